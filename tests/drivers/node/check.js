// Connects with real Node drivers using dbarena's connection info exactly as printed.
// Usage: node check.js ENGINE, with the environment `dbarena env NAME --format json` printed.
// Prints `driver<TAB>result` per driver; any failure exits non-zero.
'use strict';
const crypto = require('crypto');

const report = (driver, ...values) => console.log(`${driver}\t${values.join('|')}`);
// CURRENT_USER() is 'name@host'; the name itself may contain '@'.
const mysqlUser = (u) => u.slice(0, u.lastIndexOf('@'));

async function main(engine) {
  const env = process.env;
  if (engine === 'postgres') {
    const { Client } = require('pg');
    const query = async (config) => {
      const client = new Client(config);
      await client.connect();
      try {
        const { rows } = await client.query('SELECT 1 AS one, current_user AS u, current_database() AS d');
        return [rows[0].one, rows[0].u, rows[0].d];
      } finally {
        await client.end();
      }
    };
    // No config: node-postgres reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
    report('pg-env', ...(await query()));
    // pg-connection-string decodes the database with decodeURI, which keeps reserved
    // characters (%40, %2F...) encoded: reported, and judged by the caller.
    try {
      report('pg-url', ...(await query({ connectionString: env.DATABASE_URL })));
    } catch (e) {
      report('pg-url', `error: ${e.message}`);
    }
  } else if (engine === 'mysql') {
    const mysql = require('mysql2/promise');
    const conn = await mysql.createConnection(env.DATABASE_URL);
    const [rows] = await conn.query('SELECT 1 AS one, CURRENT_USER() AS u, DATABASE() AS d');
    report('mysql2', rows[0].one, mysqlUser(rows[0].u), rows[0].d);
    await conn.end();
  } else if (engine === 'redis') {
    const Redis = require('ioredis');
    const redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
    const key = `node-${crypto.randomUUID()}`;
    const value = crypto.randomUUID();
    await redis.set(key, value);
    report('ioredis', await redis.ping(), (await redis.get(key)) === value ? 'True' : 'False', redis.options.db);
    redis.disconnect();
  } else {
    throw new Error(`unknown engine ${engine}`);
  }
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
