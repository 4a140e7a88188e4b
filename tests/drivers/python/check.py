"""Connects with real Python drivers using dbarena's connection info exactly as printed.

Usage: check.py ENGINE. The environment is what `dbarena env NAME --format json` printed,
plus SQLALCHEMY_URL (the `sqlalchemy` connection form). Prints one line per
driver, `driver<TAB>result`; a driver that cannot connect makes the script exit non-zero.
"""

import os
import sys
import uuid

engine = sys.argv[1]
env = os.environ


def report(driver, *values):
    print(driver + "\t" + "|".join(str(v) for v in values), flush=True)


def mysql_user(current_user):
    # CURRENT_USER() is 'name@host'; the name itself may contain '@'.
    return current_user.rsplit("@", 1)[0]


if engine == "postgres":
    import psycopg
    import sqlalchemy

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        report("psycopg-url", *conn.execute("SELECT 1, current_user, current_database()").fetchone())
    # An empty conninfo: libpq reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
    with psycopg.connect("") as conn:
        report("psycopg-pgenv", *conn.execute("SELECT 1, current_user, current_database()").fetchone())
    # The `sqlalchemy` form; and the URL itself where the two coincide (a database name
    # that needs no percent-encoding), as most apps pass DATABASE_URL to create_engine.
    urls = {"sqlalchemy": env["SQLALCHEMY_URL"]}
    if env["SQLALCHEMY_URL"] == env["DATABASE_URL"]:
        urls["sqlalchemy-url"] = env["DATABASE_URL"]
    for name, url in urls.items():
        engine_ = sqlalchemy.create_engine(url)
        with engine_.connect() as conn:
            row = conn.execute(sqlalchemy.text("SELECT 1, current_user, current_database()")).one()
            report(name, *row)
        engine_.dispose()
elif engine == "mysql":
    import pymysql
    import sqlalchemy

    # PyMySQL takes no URL: the variables the mysql client reads, as printed.
    conn = pymysql.connect(
        host=env["MYSQL_HOST"],
        port=int(env["MYSQL_TCP_PORT"]),
        user=env["MYSQL_USER"],
        password=env["MYSQL_PWD"],
        database=env["MYSQL_DATABASE"],
    )
    with conn.cursor() as cur:
        cur.execute("SELECT 1, CURRENT_USER(), DATABASE()")
        one, user, db = cur.fetchone()
        report("pymysql", one, mysql_user(user), db)
    conn.close()
    engine_ = sqlalchemy.create_engine(env["SQLALCHEMY_URL"])
    with engine_.connect() as conn:
        one, user, db = conn.execute(sqlalchemy.text("SELECT 1, CURRENT_USER(), DATABASE()")).one()
        report("sqlalchemy", one, mysql_user(user), db)
    engine_.dispose()
elif engine == "redis":
    import redis

    r = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    key, value = "py-" + uuid.uuid4().hex, uuid.uuid4().hex
    r.set(key, value)
    report("redis-py", "PONG" if r.ping() else "no pong", r.get(key) == value, r.connection_pool.connection_kwargs.get("db"))
else:
    sys.exit("unknown engine " + engine)
