import asyncio

from gandan.shared.worker import PollingWorker


async def test_a_worker_stops_even_when_its_step_swallows_the_cancellation():
    steps = 0

    async def swallows_cancellation() -> int:
        nonlocal steps
        steps += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return 1  # as PyMongo's cursor loop can: ends quietly
        return 1

    task = asyncio.create_task(PollingWorker("test", swallows_cancellation, poll_seconds=0.01).run())
    await asyncio.sleep(0.2)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done
    counted = steps
    await asyncio.sleep(0.2)
    assert steps == counted


async def test_a_woken_worker_does_its_work_before_the_next_poll():
    done = asyncio.Event()
    calls = 0

    async def step() -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            done.set()
        return 0

    worker = PollingWorker("test", step, poll_seconds=60)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    worker.wake()
    await asyncio.wait_for(done.wait(), timeout=2)
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.done()


async def test_a_failed_step_is_tried_again_soon_not_at_the_next_poll():
    calls = 0
    done = asyncio.Event()

    async def step() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        done.set()
        return 0

    task = asyncio.create_task(PollingWorker("test", step, poll_seconds=3600, retry_seconds=0.01).run())
    await asyncio.wait_for(done.wait(), timeout=5)
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    assert task.done()
