// A kafkajs consumer with kafkajs' default fetch settings, run by
// compat-tests/bench_consume_test.go (BenchmarkConsumeClients): it joins
// group GROUP on TOPIC from the beginning, counts records until TOTAL, and
// prints {"records": n, "ms": t} with t from its group join (which waits
// out the broker's group.initial.rebalance.delay.ms) to the last record.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const { KAFKA_BROKER: broker, TOPIC: topic, GROUP: groupId } = process.env
const total = Number(process.env.TOTAL)
if (!broker || !topic || !groupId || !(total > 0)) {
  throw new Error('KAFKA_BROKER, TOPIC, GROUP and TOTAL must be set')
}

const kafka = new Kafka({ clientId: 'streamhouse-bench-kafkajs', brokers: [broker], logLevel: logLevel.WARN })

async function main () {
  const consumer = kafka.consumer({ groupId })
  let joined = 0
  consumer.on(consumer.events.GROUP_JOIN, () => { joined = process.hrtime.bigint() })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let n = 0
  const done = new Promise((resolve) => {
    consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        n += batch.messages.length
        if (n >= total) resolve(process.hrtime.bigint())
      }
    })
  })
  const end = await done
  await consumer.disconnect()
  console.log(JSON.stringify({ records: n, ms: Number(end - joined) / 1e6 }))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
