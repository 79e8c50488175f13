// kafkajs with @kafkajs/confluent-schema-registry against StreamHouse's
// built-in schema registry: for Avro, JSON Schema and Protobuf, register a
// schema, encode records with it, produce them with kafkajs, consume them
// back, decode them (with a fresh registry client, so the schema comes
// from the registry by id), and print what was observed as one JSON object
// for compat-tests/registry_kafkajs_test.go to check.
//
// usage: node scenario.js BROKER REGISTRY_URL
'use strict'

const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const [broker, registryURL] = process.argv.slice(2)
const kafka = new Kafka({ clientId: 'streamhouse-compat-registry', brokers: [broker], logLevel: logLevel.WARN })

const formats = {
  avro: {
    type: SchemaType.AVRO,
    schema: JSON.stringify({ type: 'record', name: 'Reading', namespace: 'sensors', fields: [{ name: 'sensor', type: 'string' }, { name: 'celsius', type: 'double' }] }),
    values: [{ sensor: 's-1', celsius: 21.5 }, { sensor: 's-2', celsius: -3 }],
  },
  json: {
    type: SchemaType.JSON,
    schema: JSON.stringify({ type: 'object', properties: { sensor: { type: 'string' }, celsius: { type: 'number' } }, required: ['sensor'], additionalProperties: false }),
    values: [{ sensor: 's-1', celsius: 21.5 }, { sensor: 's-2', celsius: -3 }],
  },
  protobuf: {
    type: SchemaType.PROTOBUF,
    schema: 'syntax = "proto3";\npackage sensors;\nmessage Reading {\n  string sensor = 1;\n  double celsius = 2;\n}\n',
    values: [{ sensor: 's-1', celsius: 21.5 }, { sensor: 's-2', celsius: -3 }],
  },
}

const withTimeout = (p, what) => Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within 30 s`)), 30000))])

async function run () {
  const out = {}
  const admin = kafka.admin()
  await admin.connect()
  const producer = kafka.producer()
  await producer.connect()
  try {
    for (const [name, f] of Object.entries(formats)) {
      const topic = `readings-${name}`
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
      const registry = new SchemaRegistry({ host: registryURL })
      const { id } = await withTimeout(registry.register({ type: f.type, schema: f.schema }, { subject: `${topic}-value` }), `${name} register`)
      // Registering again gets the same id.
      const again = await registry.register({ type: f.type, schema: f.schema }, { subject: `${topic}-value` })
      const messages = []
      for (const v of f.values) {
        messages.push({ value: await registry.encode(id, v) })
      }
      await withTimeout(producer.send({ topic, acks: -1, messages }), `${name} produce`)

      const fresh = new SchemaRegistry({ host: registryURL })
      const consumer = kafka.consumer({ groupId: `registry-${name}` })
      await consumer.connect()
      await consumer.subscribe({ topic, fromBeginning: true })
      const decoded = []
      const ids = []
      await withTimeout(new Promise((resolve, reject) => {
        consumer.run({
          eachMessage: async ({ message }) => {
            try {
              ids.push(message.value.readInt32BE(1))
              decoded.push(await fresh.decode(message.value))
              if (decoded.length === f.values.length) resolve()
            } catch (e) {
              reject(e)
            }
          },
        })
      }), `${name} consume`)
      await consumer.disconnect()
      const latest = await fresh.getLatestSchemaId(`${topic}-value`)
      out[name] = { id, again: again.id, latest, ids, decoded: decoded.map(d => ({ sensor: d.sensor, celsius: d.celsius })) }
    }
  } finally {
    await producer.disconnect()
    await admin.disconnect()
  }
  return out
}

run().then(out => {
  process.stdout.write(JSON.stringify(out) + '\n')
  process.exit(0)
}, err => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + '\n')
  process.exit(1)
})
