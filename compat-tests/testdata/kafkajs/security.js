// kafkajs over TLS and SASL against a StreamHouse broker, run by
// compat-tests/security_clients_test.go: node security.js, with
//   KAFKA_BROKER     host:port of the listener
//   KAFKA_TOPIC      a topic that exists
//   KAFKA_MODE       ssl, mtls, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER
//   KAFKA_SSL_CA     the CA to trust (PEM file)
//   KAFKA_SSL_CERT, KAFKA_SSL_KEY   the client certificate (mtls)
//   KAFKA_OAUTH_TOKEN                a signed JWT (OAUTHBEARER)
// It commits a transaction of 10 records, reads them back in a consumer
// group, commits the offsets and prints {"produced":10,"consumed":10}.
'use strict'

const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const env = process.env
const mode = env.KAFKA_MODE
const ssl = { ca: [fs.readFileSync(env.KAFKA_SSL_CA, 'utf-8')], servername: 'localhost' }
if (mode === 'mtls') {
  ssl.cert = fs.readFileSync(env.KAFKA_SSL_CERT, 'utf-8')
  ssl.key = fs.readFileSync(env.KAFKA_SSL_KEY, 'utf-8')
}
let sasl
switch (mode) {
  case 'PLAIN':
  case 'SCRAM-SHA-256':
  case 'SCRAM-SHA-512':
    sasl = { mechanism: mode.toLowerCase(), username: 'alice', password: 'alice-secret' }
    break
  case 'OAUTHBEARER':
    sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: env.KAFKA_OAUTH_TOKEN }) }
    break
}

const kafka = new Kafka({
  clientId: 'streamhouse-compat-kafkajs-security',
  brokers: [env.KAFKA_BROKER],
  ssl,
  sasl,
  logLevel: logLevel.WARN,
  logCreator: () => ({ namespace, label, log }) => {
    const { message, ...rest } = log
    process.stderr.write(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(rest)}\n`)
  },
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
})

async function main () {
  const topic = env.KAFKA_TOPIC
  const producer = kafka.producer({ transactionalId: 'txn-js-' + mode, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const txn = await producer.transaction()
  const messages = []
  for (let i = 0; i < 10; i++) messages.push({ value: 'v' + i })
  await txn.send({ topic, messages })
  await txn.commit()
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: 'g-js-' + mode, readUncommitted: false })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let consumed = 0
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${consumed} of 10 in 30 s`)), 30000)
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        consumed++
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
        if (consumed >= 10) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await done
  await consumer.disconnect()
  process.stdout.write(JSON.stringify({ produced: 10, consumed }) + '\n')
}

main().then(() => process.exit(0), err => {
  process.stderr.write(String(err && err.stack || err) + '\n')
  process.exit(1)
})
