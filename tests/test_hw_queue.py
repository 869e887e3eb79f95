# amaranth: UnusedElaboratable=no
"""``Queue`` against Amaranth's ``SyncFIFO``: the same ports must behave identically, cycle by
cycle, under random writes and reads (``Queue`` only moves its ready flags into flip-flops).
``CreditLink`` (with and without its end slices) and ``RegisterSlice`` against their timing models,
and their stated latency and rate."""

import random

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import fifo
from amaranth.sim import Simulator

from rnnrtl.hw.common import (QUEUE_BANK_BITS, CreditLink, CreditLinkModel, OutputQueue,
                              OutputQueueModel, Queue, RegisterSlice, beat_layout, delayed_pulse)
from rnnrtl.fixed import FixedFormat


def _simulate(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("depth,width,late", [(1, 8, False), (2, 8, False), (3, 8, False),
                                              (5, 8, False), (3, 300, False), (6, 129, False),
                                              (2, 8, True), (6, 300, True), (1, 129, True)])
def test_queue_matches_syncfifo(depth, width, late):
    """Wider than QUEUE_BANK_BITS, the beat is stored in banks with their own pointers (and a
    spare slot each, written in every cycle). ``late``: ``r_data`` is the reference's ``r_data``
    of the cycle before, whenever the reference had a beat then."""
    m = Module()
    m.submodules.ours = ours = Queue(width=width, depth=depth, late=late)
    m.submodules.ref = ref = fifo.SyncFIFO(width=width, depth=depth)
    assert ours.banks == -(-width // QUEUE_BANK_BITS) and (width < 129) == (ours.banks == 1)
    rng = random.Random(depth)
    mismatches = []
    seen = {"writes": 0, "reads": 0, "full": 0}

    async def testbench(ctx):
        previous = None                 # the reference's beat of the cycle before, if any
        for cycle in range(600):
            # (a write in the first cycle: every bank's write enable is up after reset)
            w_en, r_en = cycle == 0 or rng.random() < 0.55, rng.random() < 0.5
            data = rng.getrandbits(width)
            for q in (ours, ref):
                ctx.set(q.w_en, w_en)
                ctx.set(q.r_en, r_en)
                ctx.set(q.w_data, data)
            got = [ctx.get(ours.w_rdy), ctx.get(ours.r_rdy), ctx.get(ours.level)]
            want = [ctx.get(ref.w_rdy), ctx.get(ref.r_rdy), ctx.get(ref.level)]
            if late and previous is not None:
                got.append(ctx.get(ours.r_data))
                want.append(previous)
            elif not late and want[1]:
                got.append(ctx.get(ours.r_data))
                want.append(ctx.get(ref.r_data))
            previous = ctx.get(ref.r_data) if want[1] else None
            if got != want:
                mismatches.append((cycle, got, want))
            seen["writes"] += w_en and want[0]
            seen["reads"] += r_en and want[1]
            seen["full"] += not want[0]
            await ctx.tick()

    _simulate(m, testbench)
    assert not mismatches, mismatches[:5]
    assert seen["writes"] > 100 and seen["reads"] > 100 and seen["full"] > 10, seen


def _run_link(link, cycles, offer, take):
    """Drive ``link`` for ``cycles`` cycles: ``offer(cycle)`` says whether a beat is offered on
    ``i``, ``take(cycle)`` whether ``o`` is ready. Returns the cycles and payloads of the
    transfers on ``i`` and ``o``, and its flags (``i.ready``, ``o.valid``) in every cycle."""
    sent, got, flags = [], [], []

    async def testbench(ctx):
        value = 0
        for cycle in range(cycles):
            valid, ready = offer(cycle), take(cycle)
            ctx.set(link.i.valid, valid)
            lanes = link.i.payload.data
            ctx.set(lanes[0], value % 256 - 128)
            ctx.set(lanes[len(lanes) - 1], 127 - value % 256)      # (a lane of the last bank)
            ctx.set(link.i.payload.last, value % 3 == 2)
            ctx.set(link.o.ready, ready)
            i_ready, o_valid = ctx.get(link.i.ready), ctx.get(link.o.valid)
            flags.append((i_ready, o_valid))
            if valid and i_ready:
                sent.append((cycle, value % 256 - 128, int(value % 3 == 2)))
                value += 1
            if ready and o_valid:
                out = link.o.payload.data
                assert ctx.get(out[len(out) - 1]) == -1 - ctx.get(out[0]), cycle
                got.append((cycle, ctx.get(out[0]), ctx.get(link.o.payload.last)))
            await ctx.tick()

    _simulate(link, testbench)
    return sent, got, flags


_BEAT = beat_layout(FixedFormat(8, 3), 2)


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_credit_link_latency_and_rate(stages):
    """A beat comes out ``latency`` cycles after it goes in, one every cycle at full rate."""
    link = CreditLink(_BEAT, stages=stages)
    assert link.latency == stages + 1 and link.depth == 2 * stages + 2
    sent, got, _ = _run_link(link, 60, lambda c: True, lambda c: True)
    assert [s[1:] for s in sent[:len(got)]] == [g[1:] for g in got]
    assert got[0][0] - sent[0][0] == link.latency
    assert [c for c, *_ in sent] == list(range(60))
    assert [c for c, *_ in got] == list(range(link.latency, 60))


@pytest.mark.parametrize("stages,lanes", [(1, 2), (2, 2), (1, 40), (2, 40), (3, 40)])
def test_credit_link_backpressure_matches_model(stages, lanes):
    """Under random offers and random back-pressure no beat is lost, duplicated or reordered, the
    sender stops when its credits run out, and the timing model predicts every flag. 40 lanes of
    8 bits: a queue of three banks, each with its own copy of the write."""
    link = CreditLink(beat_layout(FixedFormat(8, 3), lanes), stages=stages)
    rng = random.Random(stages)
    offers = [rng.random() < 0.7 for _ in range(800)]
    takes = [rng.random() < 0.35 for _ in range(800)]
    sent, got, flags = _run_link(link, 800, offers.__getitem__, takes.__getitem__)
    assert [s[1:] for s in sent[:len(got)]] == [g[1:] for g in got]
    assert len(sent) - len(got) <= link.depth
    assert sum(1 for r, _ in flags if not r) > 50          # credits ran out, often
    model = CreditLinkModel(link)
    lasts = iter(s[2] for s in sent)
    for cycle, (offer, take) in enumerate(zip(offers, takes)):
        assert (model.in_ready(), model.out_valid()) == tuple(map(bool, flags[cycle])), cycle
        model.tick(cycle, offer, offer and model.in_ready() and bool(next(lasts)), take)


@pytest.mark.parametrize("release_stages", [0, 1, 2])
def test_output_queue_credits_match_model(release_stages):
    """A pipeline of fixed latency that issues whenever ``can_issue`` allows, against random
    back-pressure: every beat comes out in order, none is dropped (the FIFO is never written
    full), and its timing model ``OutputQueueModel`` predicts ``can_issue`` and ``o.valid`` every cycle."""
    depth, latency = 3, 4
    q = OutputQueue(_BEAT, depth=depth, release_stages=release_stages)
    assert q.release_stages == release_stages
    rng = random.Random(release_stages)
    wants = [rng.random() < 0.8 for _ in range(600)]
    takes = [rng.random() < 0.3 for _ in range(600)]
    model = OutputQueueModel(depth, release_stages)
    mismatches, out, issued = [], [], []
    stalls = 0

    async def testbench(ctx):
        nonlocal stalls
        writes = {}
        for cycle in range(600):
            can, valid = ctx.get(q.can_issue), ctx.get(q.o.valid)
            if (bool(can), bool(valid)) != (model.can_issue(), model.valid()):
                mismatches.append((cycle, can, valid))
            issue = wants[cycle] and can
            stalls += wants[cycle] and not can
            write = writes.pop(cycle, None)
            read = valid and takes[cycle]
            if read:
                out.append(ctx.get(q.o.payload.data[0]))
            ctx.set(q.issue, issue)
            ctx.set(q.w_en, write is not None)
            ctx.set(q.w_data.data[0], write or 0)
            ctx.set(q.o.ready, takes[cycle])
            if issue:
                value = len(issued) % 100
                issued.append(value)
                writes[cycle + latency] = value
            model.tick(issue=issue, write=0 if write is not None else None, read=read)
            await ctx.tick()

    _simulate(q, testbench)
    assert not mismatches, mismatches[:5]
    assert out == issued[:len(out)] and len(out) > 100
    assert stalls > 50


def test_register_slice_full_rate_and_latency():
    """A beat every cycle at full rate, ``RegisterSlice.latency`` (1) cycle through."""
    s = RegisterSlice(_BEAT)
    sent, got, flags = _run_link(s, 40, lambda c: True, lambda c: True)
    assert [c for c, *_ in sent] == list(range(40))
    assert [c for c, *_ in got] == list(range(s.latency, 40))
    assert [x[1:] for x in sent[:len(got)]] == [x[1:] for x in got]
    assert all(r for r, _ in flags)


@pytest.mark.parametrize("seed", [0, 1])
def test_register_slice_stalls_match_model(seed):
    """Random offers and back-pressure: order kept, nothing lost, ``i.ready`` falls only with the
    skid full, and ``RegisterSliceModel`` predicts both flags every cycle."""
    s = RegisterSlice(_BEAT)
    rng = random.Random(seed)
    offers = [rng.random() < 0.7 for _ in range(600)]
    takes = [rng.random() < 0.5 for _ in range(600)]
    sent, got, flags = _run_link(s, 600, offers.__getitem__, takes.__getitem__)
    assert [x[1:] for x in sent[:len(got)]] == [x[1:] for x in got] and len(got) > 200
    assert len(sent) - len(got) <= 2
    assert sum(1 for r, _ in flags if not r) > 30                # the skid filled, often
    model = s.timing_model()
    lasts = iter(x[2] for x in sent)
    for cycle, (offer, take) in enumerate(zip(offers, takes)):
        assert (model.in_ready(), model.out_valid()) == tuple(map(bool, flags[cycle])), cycle
        taken, out_last = model.tick(cycle, offer, offer and model.in_ready() and bool(next(lasts)),
                                     take)
        assert taken == (offer and bool(flags[cycle][0]))


@pytest.mark.parametrize("stages", [1, 2])
def test_credit_link_with_slices(stages):
    """With a register slice at each end: two cycles more from ``i`` to ``o``, still a beat every
    cycle, and under random stalls the link's timing model predicts every flag."""
    plain, link = CreditLink(_BEAT, stages=stages), CreditLink(_BEAT, stages=stages, slices=True)
    assert link.latency == plain.latency + 2 * RegisterSlice.latency
    sent, got, _ = _run_link(link, 50, lambda c: True, lambda c: True)
    assert got[0][0] - sent[0][0] == link.latency
    assert [c for c, *_ in got] == list(range(link.latency, 50))
    rng = random.Random(10 + stages)
    offers = [rng.random() < 0.7 for _ in range(800)]
    takes = [rng.random() < 0.35 for _ in range(800)]
    sent, got, flags = _run_link(link, 800, offers.__getitem__, takes.__getitem__)
    assert [x[1:] for x in sent[:len(got)]] == [x[1:] for x in got]
    assert sum(1 for r, _ in flags if not r) > 50
    model = link.timing_model()
    lasts = iter(x[2] for x in sent)
    for cycle, (offer, take) in enumerate(zip(offers, takes)):
        assert (model.in_ready(), model.out_valid()) == tuple(map(bool, flags[cycle])), cycle
        model.tick(cycle, offer, offer and model.in_ready() and bool(next(lasts)), take)


@pytest.mark.parametrize("late,lead,lanes", [(False, 0, 37), (True, 0, 37), (True, 1, 37),
                                              (True, 2, 37), (True, 2, 4)])
def test_late_output_queue_into_late_link(late, lead, lanes):
    """An OutputQueue whose payload lags a cycle (``late``) into a CreditLink that takes it so
    (``late_payload``): the beats come out of the link in the same cycles with the same payloads
    as through the plain pair, under random issues and back-pressure, the queue's beat wide
    enough for banks (37 lanes: 297 bits, three banks of 16-bit write pointers) or in one (4).
    ``lead``: the writer gives its write enable ``lead`` cycles ahead too, and the queue's write
    pointers move on at copies of that (a lead off by a cycle loses beats: checked)."""
    wide = beat_layout(FixedFormat(8, 3), lanes)
    runs = {}
    for flag, ahead in ((False, 0), (late, lead)):
        m = Module()
        m.submodules.q = q = OutputQueue(wide, depth=3, release_stages=1, late=flag, lead=ahead)
        m.submodules.link = link = CreditLink(wide, stages=2, late_payload=flag)
        m.d.comb += [link.i.valid.eq(q.o.valid), q.o.ready.eq(link.i.ready),
                     link.i.payload.eq(q.o.payload)]
        rng = random.Random(7)
        got = []
        probes = sorted({0, lanes // 2, lanes - 1})

        async def testbench(ctx, q=q, link=link, rng=rng, got=got, ahead=ahead, probes=probes):
            pending, value = [], 0
            for cycle in range(500):
                issue = bool(ctx.get(q.can_issue)) and rng.random() < 0.8
                ctx.set(q.issue, issue)
                if issue:
                    pending.append(cycle + 3)     # a pipeline of latency 3
                if ahead:
                    ctx.set(q.w_en_lead, cycle + ahead in pending)
                write = bool(pending) and pending[0] == cycle
                ctx.set(q.w_en, write)
                if write:
                    pending.pop(0)
                    for lane in range(len(q.w_data.data)):
                        ctx.set(q.w_data.data[lane], (value * 7 + lane) % 256 - 128)
                    ctx.set(q.w_data.last, value % 3 == 2)
                    value += 1
                take = rng.random() < 0.35
                ctx.set(link.o.ready, take)
                if take and ctx.get(link.o.valid):
                    got.append((cycle, [ctx.get(link.o.payload.data[k]) for k in probes],
                                ctx.get(link.o.payload.last)))
                await ctx.tick()

        _simulate(m, testbench)
        runs[flag, ahead] = got
    plain, ours = runs[False, 0], runs[late, lead]
    assert len(plain) > 80
    assert ours == plain
    # the beats are the ones written, in order, every probed lane
    assert [g[1] for g in ours] == [[(v * 7 + k) % 256 - 128 for k in probes]
                                    for v in range(len(ours))]


def test_output_queue_lead_copies():
    """With ``lead`` = 2 the write reaches each of the queue's write pointers (one per 16 bits of
    each bank of a late queue) through two levels of copies, fewer at the first."""
    wide = beat_layout(FixedFormat(8, 3), 37)
    q = OutputQueue(wide, depth=3, late=True, lead=2)
    fifo_q = Queue(width=297, depth=3, late=True, pointer_enables=True)
    assert len(fifo_q.write_pointers) == 19 and fifo_q.banks == 3
    from amaranth.back import rtlil
    text = rtlil.convert(q)
    leaves = {w for w in text.split() if w.startswith("\\write_copy") and "_l1_" not in w}
    firsts = {w for w in text.split() if w.startswith("\\write_copy_l1_")}
    assert len(leaves) == 19 and 1 < len(firsts) < 19, (sorted(leaves), sorted(firsts))
    with pytest.raises(ValueError, match="lead"):
        OutputQueue(wide, depth=3, lead=-1)


@pytest.mark.parametrize("stages", [1, 2, 3, 5])
def test_delayed_pulse_is_the_pulse_stages_later(stages):
    """Random events, back to back among them, come out exactly ``stages`` cycles later, each
    once. From two stages on, the toggle flips on a register of the event (``<name>_event``), not
    on the event's logic."""
    m = Module()
    pulse, out = Signal(), Signal()
    m.d.comb += out.eq(delayed_pulse(m, pulse, stages, "p"))
    rng = random.Random(stages)
    events = [rng.random() < 0.5 for _ in range(60)] + [False] * (stages + 1)
    seen = []

    async def bench(ctx):
        for event in events:
            ctx.set(pulse, event)
            seen.append(bool(ctx.get(out)))
            await ctx.tick()

    _simulate(m, bench)
    assert seen == [False] * stages + events[:len(events) - stages]
    assert ("p_event" in rtlil.convert(m, ports=[pulse, out])) == (stages >= 2)
