// kafkajs scenarios against a StreamHouse broker, run by
// compat-tests/kafkajs_test.go: node scenarios.js <scenario>, with the
// broker's address in KAFKA_BROKER. Each scenario prints one JSON object
// (what it observed) on stdout as its last line and exits 0; the Go test
// checks the object. Anything that goes wrong throws: the error goes to
// stderr and the exit status is 1. kafkajs' own logs (WARN and above) go to
// stderr, so stdout holds only the result.
'use strict'

const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes, Partitioners } = require('kafkajs')

const broker = process.env.KAFKA_BROKER
if (!broker) {
  throw new Error('KAFKA_BROKER is not set')
}

// Every wait is bounded: the Go test kills node after 60 s, this fails
// first with a description of what was awaited.
const WAIT_MS = 30000

const kafka = new Kafka({
  clientId: 'streamhouse-compat-kafkajs',
  brokers: [broker],
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) => {
    const { message, ...rest } = log
    process.stderr.write(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(rest)}\n`)
  },
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
})

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (what, cond, ms = WAIT_MS) {
  const deadline = Date.now() + ms
  let last = ''
  for (;;) {
    const [ok, desc] = await cond()
    if (ok) return
    last = desc
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}: ${last}`)
    }
    await sleep(50)
  }
}

function newProducer (opts = {}) {
  return kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...opts })
}

// messages returns n keyed records with two headers each; tag makes the
// keys of one batch unique across the scenario.
function messages (tag, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    out.push({
      key: `${tag}-${i}`,
      value: `value of ${tag}-${i}`,
      headers: { tag, seq: String(i) },
    })
  }
  return out
}

// A consumer in a group, recording what it receives and the assignment it
// was last given.
async function startConsumer (groupId, topic, name, extra = {}) {
  const c = kafka.consumer({
    groupId,
    sessionTimeout: 10000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
    retry: { retries: 5 },
    ...extra,
  })
  const state = { name, consumer: c, records: [], assignment: null, joins: 0, crashed: null }
  c.on(c.events.GROUP_JOIN, e => {
    state.assignment = (e.payload.memberAssignment[topic] || []).slice().sort()
    state.joins++
  })
  c.on(c.events.CRASH, e => {
    state.crashed = String(e.payload.error && e.payload.error.stack)
  })
  await c.connect()
  await c.subscribe({ topic, fromBeginning: true })
  await c.run({
    autoCommitInterval: 100,
    eachMessage: async ({ partition, message }) => {
      const headers = {}
      for (const [k, v] of Object.entries(message.headers || {})) {
        headers[k] = v == null ? null : v.toString()
      }
      state.records.push({
        partition,
        offset: Number(message.offset),
        key: message.key == null ? null : message.key.toString(),
        value: message.value == null ? null : message.value.toString(),
        headers,
      })
    },
  })
  return state
}

// check compares received records with the sent ones: every sent record
// exactly once, with its value and headers. It returns a list of problems
// (at most 20) that the Go test reports.
function check (sent, received) {
  const problems = []
  const byKey = new Map()
  for (const r of received) {
    if (byKey.has(r.key)) {
      problems.push(`key ${r.key} received twice (offsets ${byKey.get(r.key).offset} and ${r.offset})`)
    }
    byKey.set(r.key, r)
  }
  for (const m of sent) {
    const r = byKey.get(m.key)
    if (!r) {
      problems.push(`key ${m.key} not received`)
      continue
    }
    if (r.value !== m.value) problems.push(`key ${m.key}: value ${JSON.stringify(r.value)}, want ${JSON.stringify(m.value)}`)
    if (JSON.stringify(r.headers) !== JSON.stringify(m.headers)) {
      problems.push(`key ${m.key}: headers ${JSON.stringify(r.headers)}, want ${JSON.stringify(m.headers)}`)
    }
    byKey.delete(m.key)
  }
  for (const k of byKey.keys()) problems.push(`key ${k} received but not sent in this round`)
  return problems.slice(0, 20)
}

function byPartition (records) {
  const n = {}
  for (const r of records) n[r.partition] = (n[r.partition] || 0) + 1
  return n
}

// Sums fetchTopicOffsets' high watermarks; kafkajs gives offsets as strings.
// adminWithTopics connects an admin client and creates the topics, waiting
// for their leaders; the caller disconnects it.
async function adminWithTopics (...topics) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ waitForLeaders: true, topics })
  return admin
}

async function endOffsets (admin, topic) {
  const offs = await admin.fetchTopicOffsets(topic)
  const ends = {}
  for (const o of offs) ends[o.partition] = Number(o.high)
  return ends
}

async function committed (admin, groupId, topic) {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] })
  const out = {}
  for (const t of res) {
    for (const p of t.partitions) out[p.partition] = Number(p.offset)
  }
  return out
}

async function waitCommitted (admin, groupId, topic, ends) {
  await waitFor(`group ${groupId} committing ${JSON.stringify(ends)}`, async () => {
    const c = await committed(admin, groupId, topic)
    return [JSON.stringify(c) === JSON.stringify(ends), `committed ${JSON.stringify(c)}`]
  })
}

async function waitCount (what, states, n) {
  await waitFor(what, async () => {
    const crashed = states.filter(s => s.crashed)
    if (crashed.length) throw new Error(`consumer ${crashed[0].name} crashed: ${crashed[0].crashed}`)
    const got = states.reduce((sum, s) => sum + s.records.length, 0)
    return [got >= n, `${got} of ${n} received`]
  })
}

const scenarios = {
  // Admin: createTopics, listTopics, fetchTopicMetadata, describeConfigs,
  // fetchTopicOffsets, deleteTopics, describeCluster.
  async admin () {
    const admin = kafka.admin()
    await admin.connect()
    const out = {}
    out.created = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: 'js-admin', numPartitions: 3, configEntries: [{ name: 'retention.ms', value: '3600000' }] },
        { topic: 'js-doomed', numPartitions: 1 },
      ],
    })
    // kafkajs answers false, not an error, for a topic that exists.
    out.createdAgain = await admin.createTopics({ topics: [{ topic: 'js-admin', numPartitions: 3 }] })
    out.listed = (await admin.listTopics()).sort()
    const md = await admin.fetchTopicMetadata({ topics: ['js-admin'] })
    out.metadata = md.topics.map(t => ({
      name: t.name,
      partitions: t.partitions.map(p => ({ id: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, error: p.partitionErrorCode })).sort((a, b) => a.id - b.id),
    }))
    const cluster = await admin.describeCluster()
    out.cluster = { brokers: cluster.brokers.map(b => `${b.host}:${b.port}`), controller: cluster.controller }
    const cfg = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: 'js-admin', configNames: ['retention.ms', 'cleanup.policy'] }],
    })
    out.configs = {}
    for (const r of cfg.resources) {
      if (r.errorCode !== 0) throw new Error(`describeConfigs ${r.resourceName}: error ${r.errorCode} ${r.errorMessage}`)
      for (const e of r.configEntries) out.configs[e.configName] = { value: e.configValue, isDefault: e.isDefault }
    }
    out.offsets = (await admin.fetchTopicOffsets('js-admin')).map(o => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition)
    await admin.deleteTopics({ topics: ['js-doomed'], timeout: 10000 })
    out.listedAfterDelete = (await admin.listTopics()).sort()
    await admin.disconnect()
    return out
  },

  // Producer and consumer group: 500 records uncompressed and 500 gzipped
  // with the default producer (acks -1), 200 with an idempotent one; a
  // group reads all 1,200 back and commits; a new consumer of the group
  // gets only what was produced after.
  async produce () {
    const topic = 'js-produce'
    const group = 'js-produce-group'
    const admin = await adminWithTopics({ topic, numPartitions: 3 })
    const out = {}

    const plain = messages('plain', 500)
    const gzip = messages('gzip', 500)
    const idem = messages('idem', 200)
    const p = newProducer()
    await p.connect()
    const acked = []
    // Several sends of 100 so that each codec makes several batches.
    for (let i = 0; i < 500; i += 100) {
      acked.push(...await p.send({ topic, acks: -1, messages: plain.slice(i, i + 100) }))
    }
    for (let i = 0; i < 500; i += 100) {
      acked.push(...await p.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: gzip.slice(i, i + 100) }))
    }
    await p.disconnect()
    out.ackErrors = acked.filter(a => a.errorCode !== 0).length

    const ip = newProducer({ idempotent: true, maxInFlightRequests: 1 })
    await ip.connect()
    for (let i = 0; i < 200; i += 50) {
      acked.push(...await ip.send({ topic, messages: idem.slice(i, i + 50) }))
    }
    await ip.disconnect()
    const sent = [...plain, ...gzip, ...idem]
    out.sent = sent.length
    const ends = await endOffsets(admin, topic)
    out.ends = ends

    const c1 = await startConsumer(group, topic, 'first')
    await waitCount('the first consumer reading every record', [c1], sent.length)
    await waitCommitted(admin, group, topic, ends)
    await c1.consumer.disconnect()
    out.first = { received: c1.records.length, byPartition: byPartition(c1.records), problems: check(sent, c1.records) }
    out.committed = await committed(admin, group, topic)

    // The consumer restarts: a new one in the same group, fromBeginning
    // (which applies only without a committed offset).
    const more = messages('more', 30)
    const p2 = newProducer()
    await p2.connect()
    await p2.send({ topic, messages: more })
    await p2.disconnect()
    const ends2 = await endOffsets(admin, topic)
    const c2 = await startConsumer(group, topic, 'second')
    await waitCount('the restarted consumer reading the new records', [c2], more.length)
    await waitCommitted(admin, group, topic, ends2)
    // Records arrive in offset order per partition, so an old record
    // redelivered would have come before the new ones; wait a little for
    // any stragglers all the same.
    await sleep(500)
    await c2.consumer.disconnect()
    out.second = { received: c2.records.length, problems: check(more, c2.records), firstOffsets: {} }
    for (const r of c2.records) {
      if (!(r.partition in out.second.firstOffsets)) out.second.firstOffsets[r.partition] = r.offset
    }
    out.committed2 = await committed(admin, group, topic)
    out.ends2 = ends2
    await admin.disconnect()
    return out
  },

  // Two consumers in one group share a three-partition topic: the first
  // takes all three and commits what it read; the second joins, the group
  // rebalances, and each record produced after that reaches exactly one of
  // them.
  async groups () {
    const topic = 'js-groups'
    const group = 'js-share'
    const admin = await adminWithTopics({ topic, numPartitions: 3 })
    const out = {}
    const p = newProducer()
    await p.connect()

    const a = await startConsumer(group, topic, 'a')
    await waitFor('consumer a holding all three partitions', async () =>
      [JSON.stringify(a.assignment) === '[0,1,2]', `assignment ${JSON.stringify(a.assignment)}`])
    const before = messages('before', 90)
    await p.send({ topic, messages: before })
    const ends = await endOffsets(admin, topic)
    await waitCount('consumer a reading the first records', [a], before.length)
    await waitCommitted(admin, group, topic, ends)
    out.aJoinsAlone = a.joins

    const b = await startConsumer(group, topic, 'b')
    await waitFor('the partitions split between a and b', async () => {
      const all = [...(a.assignment || []), ...(b.assignment || [])].sort()
      const ok = a.assignment && b.assignment && a.assignment.length > 0 && b.assignment.length > 0 &&
        JSON.stringify(all) === '[0,1,2]'
      return [ok, `a ${JSON.stringify(a.assignment)} (${a.joins} joins), b ${JSON.stringify(b.assignment)}`]
    })
    out.assignments = { a: a.assignment, b: b.assignment }
    out.aJoins = a.joins
    const aBefore = a.records.length
    const after = messages('after', 300)
    await p.send({ topic, messages: after })
    await p.disconnect()
    const ends2 = await endOffsets(admin, topic)
    await waitCount('a and b reading the new records', [a, b], before.length + after.length)
    await waitCommitted(admin, group, topic, ends2)
    await sleep(500)
    const aAfter = a.records.slice(aBefore)
    out.split = { a: aAfter.length, b: b.records.length }
    out.problems = check(after, [...aAfter, ...b.records])
    // Each consumer received only from the partitions it was assigned.
    out.outside = [
      ...aAfter.filter(r => !a.assignment.includes(r.partition)).map(r => `a got partition ${r.partition}`),
      ...b.records.filter(r => !b.assignment.includes(r.partition)).map(r => `b got partition ${r.partition}`),
    ].slice(0, 10)
    await Promise.all([a.consumer.disconnect(), b.consumer.disconnect()])
    out.committed = await committed(admin, group, topic)
    out.ends = ends2
    await admin.disconnect()
    return out
  },

  // Transactions: one committed, one aborted, one committed with the
  // offsets of a group (sendOffsets: AddOffsetsToTxn and TxnOffsetCommit).
  // A read_committed consumer sees the committed records only; a
  // read_uncommitted one sees all of them.
  async transactions () {
    const topic = 'js-txn'
    const group = 'js-txn-offsets'
    const admin = await adminWithTopics({ topic, numPartitions: 3 }, { topic: 'js-txn-src', numPartitions: 1 })
    const out = {}
    const p = newProducer({ transactionalId: 'js-txn-producer', idempotent: true, maxInFlightRequests: 1 })
    await p.connect()
    const c1 = messages('commit1', 20)
    const ab = messages('abort', 20)
    const c2 = messages('commit2', 20)

    let tx = await p.transaction()
    await tx.send({ topic, messages: c1 })
    await tx.commit()

    tx = await p.transaction()
    await tx.send({ topic, messages: ab.slice(0, 10) })
    await tx.send({ topic, messages: ab.slice(10), compression: CompressionTypes.GZIP })
    await tx.abort()

    tx = await p.transaction()
    await tx.send({ topic, messages: c2 })
    await tx.sendOffsets({ consumerGroupId: group, topics: [{ topic: 'js-txn-src', partitions: [{ partition: 0, offset: '7' }] }] })
    await tx.commit()
    await p.disconnect()
    out.txnOffsets = await committed(admin, group, 'js-txn-src')

    const committedRecs = [...c1, ...c2]
    const rc = await startConsumer('js-txn-read-committed', topic, 'read-committed')
    const ru = await startConsumer('js-txn-read-uncommitted', topic, 'read-uncommitted', { readUncommitted: true })
    await waitCount('read_committed consumer reading the committed records', [rc], committedRecs.length)
    await waitCount('read_uncommitted consumer reading every record', [ru], committedRecs.length + ab.length)
    await sleep(500)
    await Promise.all([rc.consumer.disconnect(), ru.consumer.disconnect()])
    out.readCommitted = { received: rc.records.length, problems: check(committedRecs, rc.records) }
    out.readUncommitted = { received: ru.records.length, problems: check([...c1, ...ab, ...c2], ru.records) }
    await admin.disconnect()
    return out
  },

  // Before a broker restart: 300 records (acks -1), half of them gzipped,
  // and a group that reads them all and commits.
  async 'restart-before' () {
    const topic = 'js-restart'
    const admin = await adminWithTopics({ topic, numPartitions: 3 })
    const p = newProducer()
    await p.connect()
    await p.send({ topic, messages: messages('restart', 150) })
    await p.send({ topic, compression: CompressionTypes.GZIP, messages: messages('restart-gzip', 150) })
    await p.disconnect()
    const ends = await endOffsets(admin, topic)
    const c = await startConsumer('js-restart-group', topic, 'before')
    await waitCount('the consumer reading every record before the restart', [c], 300)
    await waitCommitted(admin, 'js-restart-group', topic, ends)
    await c.consumer.disconnect()
    await admin.disconnect()
    return { ends, received: c.records.length }
  },

  // After the restart: the topic, its records, and the group's offsets are
  // all still there.
  async 'restart-after' () {
    const topic = 'js-restart'
    const admin = kafka.admin()
    await admin.connect()
    const out = {}
    out.listed = (await admin.listTopics()).sort()
    out.ends = await endOffsets(admin, topic)
    out.committed = await committed(admin, 'js-restart-group', topic)
    const c = await startConsumer('js-restart-new-group', topic, 'after')
    await waitCount('a new group reading every record after the restart', [c], 300)
    await sleep(300)
    await c.consumer.disconnect()
    out.received = c.records.length
    out.problems = check([...messages('restart', 150), ...messages('restart-gzip', 150)], c.records)
    // The committed group resumes at its offsets: nothing to read.
    const old = await startConsumer('js-restart-group', topic, 'old-group')
    await waitFor('the old group joining', async () => [old.assignment !== null, 'not joined'])
    await sleep(1000)
    await old.consumer.disconnect()
    out.oldGroupReceived = old.records.length
    await admin.disconnect()
    return out
  },
}

async function main () {
  const name = process.argv[2]
  const fn = scenarios[name]
  if (!fn) {
    throw new Error(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(', ')}`)
  }
  const started = Date.now()
  const out = await fn()
  out.ms = Date.now() - started
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().then(
  () => process.exit(0),
  err => {
    process.stderr.write(`scenario ${process.argv[2]} failed: ${err && err.stack ? err.stack : err}\n`)
    if (err && err.cause) process.stderr.write(`cause: ${err.cause.stack || err.cause}\n`)
    process.exit(1)
  },
)
