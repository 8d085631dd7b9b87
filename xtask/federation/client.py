"""An ordinary NATS client beside ZeroBus nodes (xtask/src/federation.rs, xtask/src/bench.rs).

  client.py SERVER command JSON   publish a ledger command to the nodes serving it (queue group)
                                  and print the outcome event a node exports, as JSON
  client.py SERVER connect -      connect and print "connected", or "refused: <why>"
  client.py SERVER bench N        a publisher->subscriber pair on the same server: N messages
                                  as fast as they go, then 200 one at a time (each sent once the
                                  last arrived); prints {"events_per_s":..,"latency_us_p50":..}
"""
import asyncio
import json
import sys
import time

import nats


async def command(server, payload):
    nc = await nats.connect(server, name="zb-test-client")
    outcome = asyncio.get_running_loop().create_future()

    async def on_event(msg):
        if not outcome.done():
            outcome.set_result(msg)

    for subject in ("zb.ev.ledger.transfer.completed", "zb.ev.ledger.transfer.rejected"):
        await nc.subscribe(subject, cb=on_event)
    await nc.flush()
    await nc.publish("zb.req.ledger.transfer.requested", payload.encode())
    msg = await asyncio.wait_for(outcome, 20)
    print(json.dumps({
        "subject": msg.subject,
        "headers": dict(msg.headers or {}),
        "envelope": json.loads(msg.data),
    }))
    await nc.close()


async def bench(server, n):
    pub = await nats.connect(server, name="zb-bench-pub")
    sub = await nats.connect(server, name="zb-bench-sub")
    done = asyncio.get_running_loop().create_future()
    latencies = []

    async def on_msg(msg):
        latencies.append(time.perf_counter_ns() - int(msg.data))
        if len(latencies) == n and not done.done():
            done.set_result(None)

    first = await sub.subscribe("zb.bench.py", cb=on_msg)
    await sub.flush()
    start = time.perf_counter()
    for _ in range(n):
        await pub.publish("zb.bench.py", str(time.perf_counter_ns()).encode())
    await pub.flush()
    await asyncio.wait_for(done, 60)
    elapsed = time.perf_counter() - start
    await first.unsubscribe()
    # One at a time: the latency of a single event, as the OS's figure is taken.
    arrivals = asyncio.Queue()

    async def on_one(msg):
        await arrivals.put(time.perf_counter_ns() - int(msg.data))

    await sub.subscribe("zb.bench.one", cb=on_one)
    await sub.flush()
    rounds = []
    for _ in range(200):
        await pub.publish("zb.bench.one", str(time.perf_counter_ns()).encode())
        await pub.flush()
        rounds.append(await asyncio.wait_for(arrivals.get(), 10))
    rounds.sort()
    print(json.dumps({
        "events_per_s": n / elapsed,
        "latency_us_p50": rounds[len(rounds) // 2] / 1000,
    }))
    await pub.close()
    await sub.close()


async def connect(server):
    """Prints "connected", or "refused: <why>" when the server turns the client away."""
    async def quiet(e):  # the refusal is the answer, not a failure to report
        pass

    try:
        nc = await nats.connect(server, name="zb-test-anonymous", allow_reconnect=False,
                                max_reconnect_attempts=0, connect_timeout=5, error_cb=quiet)
    except Exception as e:  # nats-py raises its own error classes, or the last one it met
        print(f"refused: {type(e).__name__}: {e}")
        return
    print("connected")
    await nc.close()


def main():
    server, mode, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "command":
        asyncio.run(command(server, arg))
    elif mode == "bench":
        asyncio.run(bench(server, int(arg)))
    elif mode == "connect":
        asyncio.run(connect(server))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
