"""The SimPy engine: every task is a generator process that walks the plan's steps.

What a task does, step by step (DESIGN.md's semantics):

* **llm**: the input is system + user + this step's prompt, plus, with ``history: full``, every earlier
  step's prompt, output and tool result of this run of the task (``window`` drops the oldest of those to
  fit the model's context window; an input that does not fit fails the call). Each attempt may first
  wait (retry backoff, a rate limit's next free minute, a self-hosted server's queue), may be rejected
  (rate limit) or errored (outage), and otherwise takes time-to-first-token plus its output and hidden
  reasoning tokens over the model's speed (or the batch delay, or the server's service time). It draws
  whether its output is usable; a failed attempt is billed in full, its output is not kept, and the
  retry re-sends the same input. When ``max_attempts`` attempts fail the call escalates (a new call on
  the next rung of its ladder) or the run of the task fails.
* **tool**: each attempt takes its latency and may error; a successful attempt's result joins the
  conversation. When every attempt errors the run of the task fails.
* **loop**: the inner steps run a drawn number of times; **branch**: one arm runs, drawn by probability.
* A failed run is re-run from the first step while ``task_retry.max_attempts`` allows.

Draws come from :class:`~sim.core.randomness.BlockDraws` with occurrence ``(run, *loop iterations)`` for
per-run quantities, plus ``(rung, attempt)`` for per-attempt ones, so all alternatives see the same task.

Time: with ``traffic`` (a *shared* world) tasks arrive over the horizon and every wait is a SimPy
timeout, so tasks that overlap in time meet in the shared cache, rate limiters and server queues.
Without it tasks share nothing, and each task keeps its own clock arithmetically: the same durations,
without the cost of scheduling events.
"""

from __future__ import annotations

import gc
from bisect import bisect_right

import simpy

from sim.core.randomness import BlockDraws
from sim.core.records import FAILURE_CODE, TASK_FIELDS, TaskColumns
from sim.engine import caching
from sim.engine.plan import LLM, LOOP, TOOL, Draw, LlmCall, Plan
from sim.engine.world import World

_INVALID = FAILURE_CODE["invalid_output"]
_TOOL_ERROR = FAILURE_CODE["tool_error"]
_PROVIDER_ERROR = FAILURE_CODE["provider_error"]
_RATE_LIMITED = FAILURE_CODE["rate_limited"]
_CONTEXT = FAILURE_CODE["context_exceeded"]
_BUDGET_COST, _BUDGET_CALLS, _BUDGET_TIME = (FAILURE_CODE[f"budget_{cap}"] for cap in ("cost", "calls", "time"))
_WRONG = FAILURE_CODE["wrong_answer"]
# What a leg's attempts come to: the answer was kept; every attempt failed; a provider error or
# rejection ended the leg at once (it has a fallback to switch to).
_FAILED, _OK, _SWITCH = 0, 1, 2


class _TaskState:
    """Running totals of one task, its clock, and the conversation of its current run."""

    __slots__ = ("offset", "task_id", "clock", "system_tokens", "head_tokens", "transcript_tokens", "run",
                 "cost_usd", "calls",
                 "attempts", "input_tokens", "output_tokens", "tool_calls", "reasoning_tokens",
                 "cache_read_tokens", "cache_write_tokens", "cache_hits", "billed_attempts", "cache_saving_usd",
                 "throttled", "throttle_wait_s", "provider_errors", "failure", "gpu_s", "conversation_cache",
                 "system_cache", "head_cache", "difficulty", "arrival_s", "stopped", "escalations", "validations",
                 "accepted_invalid", "rejected_valid", "routing_usd", "route", "choices", "wrong")

    def __init__(self, offset: int, task_id: int, arrival_s: float, system_tokens: int, user_tokens: int,
                 system_cache: dict) -> None:
        self.offset = offset
        self.task_id = task_id
        self.clock = arrival_s
        self.system_tokens = system_tokens
        self.head_tokens = system_tokens + user_tokens
        self.transcript_tokens = 0
        self.run = 0
        self.cost_usd = self.cache_saving_usd = self.throttle_wait_s = self.gpu_s = 0.0
        self.calls = self.attempts = self.input_tokens = self.output_tokens = self.tool_calls = 0
        self.reasoning_tokens = self.cache_read_tokens = self.cache_write_tokens = self.cache_hits = 0
        self.billed_attempts = self.throttled = self.provider_errors = self.failure = 0
        self.conversation_cache: dict[str, tuple[int, float]] = {}  # model -> (prefix tokens, expiry)
        self.head_cache: dict[str, float] = {}  # model -> expiry of this task's system + user prefix
        self.system_cache = system_cache  # model -> expiry of the system prompt (shared with traffic)
        self.difficulty = 0  # class index, or score
        self.arrival_s = arrival_s
        self.stopped = False  # a budget cap ended the task: no re-run
        self.escalations = self.validations = self.accepted_invalid = self.rejected_valid = 0
        self.routing_usd = 0.0
        self.route = -1
        self.choices: dict[str, int] = {}  # role -> option chosen by its split or router in this run
        self.wrong = False  # this run kept an invalid answer a validator accepted


class DesEngine:
    """Runs a plan over a block of tasks as a SimPy discrete-event simulation."""

    name = "des"
    #: Tasks per block: enough to share draws' work, few enough processes alive at once.
    block_tasks = 1_000

    def run_block(self, plan: Plan, draws: BlockDraws, arrivals_s: list[float] | None = None,
                  replication: int = 0, trace: list | None = None) -> TaskColumns:
        """Run ``plan`` on the block's tasks. ``arrivals_s`` (with traffic) gives each task's arrival;
        without it every task starts at 0 and tasks share nothing. Trace rows go to ``trace``."""
        env = simpy.Environment()
        world = World(env, plan.world, trace)
        runner = _Runner(env, plan, world, draws, replication)
        columns: dict[str, list] = {name: [None] * draws.n_tasks for name in TASK_FIELDS}
        # A block allocates millions of short-lived objects (processes, events, tuples) and frees them by
        # reference counting; the cyclic collector finds nothing in them and costs ~20% of the run.
        collect = gc.isenabled()
        gc.disable()
        try:
            for offset in range(draws.n_tasks):
                arrival_s = 0.0 if arrivals_s is None else arrivals_s[offset]
                env.process(runner.task(offset, arrival_s, columns))
            env.run()
        finally:
            if collect:
                gc.enable()
        overhead_usd = _charge_gpu_time(plan, world, columns) if plan.self_hosted_refs else 0.0
        columns["replication"] = [replication] * draws.n_tasks
        return TaskColumns.from_lists(columns, overhead_usd, runner.model_calls)


def _charge_gpu_time(plan: Plan, world: World, columns: dict[str, list]) -> float:
    """Divide the GPU bill of each self-hosted deployment this plan uses among the tasks it served, in
    proportion to their service time (so idle hours are paid for by the work that was done). The GPUs
    are rented for the whole horizon, longer if the server is still busy after it; whatever no task
    can carry (no task reached the server) is returned as the block's overhead."""
    bill_usd = busy_s = 0.0
    for ref in plan.self_hosted_refs:
        server = world.servers[ref]
        horizon_s = max(plan.world.horizon_s or 0.0, server.last_end_s)
        bill_usd += server.spec.gpu_hour_usd * server.spec.gpus * horizon_s / 3600
        busy_s += server.busy_s
    if busy_s <= 0:
        return bill_usd
    per_busy_second = bill_usd / busy_s
    for offset, gpu_s in enumerate(columns["gpu_s"]):
        if gpu_s:
            columns["cost_usd"][offset] += gpu_s * per_busy_second
    return 0.0


class _Runner:
    """The processes of one block: tasks, and the steps, calls and tools inside them."""

    def __init__(self, env: simpy.Environment, plan: Plan, world: World, draws: BlockDraws, replication: int):
        self.env, self.plan, self.world, self.draws = env, plan, world, draws
        self.shared = world.shared
        self.replication = replication
        self.cache = plan.world.cache
        self.model_calls: dict[str, int] = {}  # model ref -> calls it answered, in this block

    def value(self, state: _TaskState, draw: Draw, occurrence: tuple):
        if draw.fixed is not None:
            return draw.fixed
        return self.draws.value(state.offset, draw, occurrence)

    def over_budget(self, state: _TaskState, new_call: bool = False) -> bool:
        """Whether a budget cap stops the task before its next attempt (or call); marks it if so."""
        budget = self.plan.budget
        if budget is None:
            return False
        if budget.max_cost_usd is not None and state.cost_usd >= budget.max_cost_usd:
            state.failure = _BUDGET_COST
        elif new_call and budget.max_calls is not None and state.calls >= budget.max_calls:
            state.failure = _BUDGET_CALLS
        elif budget.max_wall_s is not None and state.clock - state.arrival_s >= budget.max_wall_s:
            state.failure = _BUDGET_TIME
        else:
            return False
        state.stopped = True
        return True

    def wait(self, state: _TaskState, seconds: float):
        """Let ``seconds`` of simulated time pass for this task (a generator: use ``yield from``)."""
        if seconds > 0:
            if self.shared:
                yield self.env.timeout(seconds)
                state.clock = self.env.now
            else:
                state.clock += seconds

    # -- one task ----------------------------------------------------------------------------------------
    def task(self, offset: int, arrival_s: float, columns: dict[str, list]):
        plan, world = self.plan, self.world
        if self.shared and arrival_s > 0:
            yield self.env.timeout(arrival_s)
        state = _TaskState(offset, int(self.draws.task_ids[offset]), arrival_s, self.value_for(offset, plan.system),
                           self.value_for(offset, plan.user), world.system_cache if self.shared else {})
        if plan.difficulty is not None:
            state.difficulty = _difficulty(plan.difficulty, self.draws, offset)
        slot = None
        if world.concurrency is not None:
            slot = world.concurrency.request()
            yield slot
            state.clock = self.env.now
        success = False
        runs = 0
        for run in range(plan.task_attempts):
            runs += 1
            state.run = run
            state.transcript_tokens = 0
            state.conversation_cache.clear()
            state.choices.clear()
            state.wrong = False
            success = yield from self.steps(plan.steps, (run,), state)
            if success and state.wrong:  # the agent believes it succeeded: nothing to re-run
                success = False
                state.failure = _WRONG
                break
            if success:
                state.failure = 0
                break
            if state.stopped:
                break
        if slot is not None:
            world.concurrency.release(slot)
        for name in ("cost_usd", "calls", "attempts", "input_tokens", "output_tokens", "tool_calls",
                     "reasoning_tokens", "cache_read_tokens", "cache_write_tokens", "cache_hits", "billed_attempts",
                     "cache_saving_usd", "throttled", "throttle_wait_s", "provider_errors", "failure", "gpu_s",
                     "escalations", "validations", "accepted_invalid", "rejected_valid", "routing_usd", "route",
                     "difficulty"):
            columns[name][offset] = getattr(state, name)
        columns["success"][offset] = success
        columns["runs"][offset] = runs
        columns["latency_s"][offset] = state.clock - arrival_s
        columns["arrival_s"][offset] = arrival_s

    def value_for(self, offset: int, draw: Draw):
        return draw.fixed if draw.fixed is not None else self.draws.value(offset, draw, ())

    def steps(self, steps: tuple, base: tuple, state: _TaskState):
        """Run a sequence of steps; return whether it completed (the generator's return value)."""
        for step in steps:
            kind = step.kind
            if kind is LLM:
                ok = yield from self.llm(step, base, state)
            elif kind is TOOL:
                ok = yield from self.tool(step, base, state)
            elif kind is LOOP:
                ok = True
                for iteration in range(self.value(state, step.count, base)):
                    ok = yield from self.steps(step.steps, (*base, iteration), state)
                    if not ok:
                        break
            else:  # BRANCH
                arm = bisect_right(step.cumulative, self.draws.uniform(state.offset, step.key, base))
                ok = yield from self.steps(step.arms[min(arm, len(step.arms) - 1)], base, state)
            if not ok:
                return False
        return True

    def tool(self, step, base: tuple, state: _TaskState):
        for attempt in range(step.max_attempts):
            occurrence = (*base, attempt)
            if self.over_budget(state):
                return False
            if attempt:
                u = self.draws.uniform(state.offset, step.retry_wait.key, occurrence)
                yield from self.wait(state, step.retry_wait.wait_s(attempt, u))
            start_s = state.clock
            yield from self.wait(state, self.value(state, step.latency, occurrence))
            state.tool_calls += 1
            state.cost_usd += step.cost_usd
            failed = bool(step.fail_probability) and (
                self.draws.uniform(state.offset, step.fail_key, occurrence) < step.fail_probability)
            result = 0 if failed else self.value(state, step.result, occurrence)
            if self.world.trace is not None:
                self.trace_tool(state, step, attempt, start_s, result, failed)
            if not failed:
                state.transcript_tokens += result
                return True
        state.failure = _TOOL_ERROR
        return False

    def llm(self, step: LlmCall, base: tuple, state: _TaskState):
        """One llm step: the route's choice, then its legs (attempts, retries, escalation, fallback)."""
        prompt = self.value(state, step.prompt, base)
        legs = step.legs
        if step.route is not None:
            option = yield from self.choose(step, state)
            if option is None:
                return False
            legs = step.choices[option]
        index = 0
        while index is not None:
            leg = legs[index]
            model = leg.model
            if self.over_budget(state, new_call=True):
                return False
            state.calls += 1
            self.model_calls[model.ref] = self.model_calls.get(model.ref, 0) + 1
            if index:
                state.escalations += 1
            input_tokens = _input_tokens(step, model, state, prompt)
            if input_tokens is None:  # does not fit the model's context window: no retry can help
                state.attempts += 1
                state.failure = _CONTEXT
                if self.world.trace is not None:
                    self.trace_llm(state, step.id, model, 0, state.clock, 0, 0, 0, 0, 0, 0.0, "context_exceeded")
                index = leg.on_failure
                continue
            outcome = yield from self.attempts(step, index, leg, base, state, prompt, input_tokens)
            if outcome is _OK:
                return True
            index = leg.on_provider_error if outcome is _SWITCH else leg.on_failure
        return False

    def choose(self, step: LlmCall, state: _TaskState):
        """The option of the step's split or router for this run of the task (made on the role's first
        call in the run, the router's call billed then); None if a budget cap stops the router's call."""
        route = step.route
        option = state.choices.get(route.role)
        if option is not None:
            return option
        occurrence = (state.run,)
        if route.router is not None:
            if route.router.model is not None and self.over_budget(state, new_call=True):
                return None
            yield from self.side_call(state, f"{step.id}.router", route.router.model, route.router.prompt,
                                      route.router.output, route.router.cost_usd, occurrence, 0)
            row = route.cumulative[state.difficulty]
        else:
            row = route.cumulative[0]
        u = self.draws.uniform(state.offset, route.key, occurrence)
        option = min(bisect_right(row, u), len(row) - 1)
        state.choices[route.role] = option
        state.route = option
        return option

    def side_call(self, state: _TaskState, name: str, model, prompt_draw: Draw, output_draw: Draw,
                  flat_usd: float, occurrence: tuple, answer_tokens: int):
        """A router's or validator's call: its own prompt (plus the system prompt and the user's
        request, plus the answer it judges), its own output, billed to the task and to ``routing_usd``.
        It goes through no cache, rate limit, outage or server queue."""
        cost_usd = flat_usd
        if model is not None:
            prompt = self.value(state, prompt_draw, occurrence)
            output = self.value(state, output_draw, occurrence)
            reasoning = 0 if model.reasoning is None else self.value(state, model.reasoning, occurrence)
            input_tokens = state.head_tokens + prompt + answer_tokens
            model_usd = model.attempt_cost_usd(input_tokens, output + reasoning)
            cost_usd += model_usd
            start_s = state.clock
            duration_s = self.value(state, model.ttft, occurrence)
            if output + reasoning:
                duration_s += (output + reasoning) / max(self.value(state, model.speed, occurrence), 1e-9)
            yield from self.wait(state, duration_s)
            state.calls += 1
            state.attempts += 1
            state.billed_attempts += 1
            state.input_tokens += input_tokens
            state.output_tokens += output
            state.reasoning_tokens += reasoning
            if self.world.trace is not None:
                self.trace_llm(state, name, model, 0, start_s, input_tokens, output, reasoning, 0, 0, model_usd, "ok")
        state.cost_usd += cost_usd
        state.routing_usd += cost_usd

    def attempts(self, step: LlmCall, index: int, leg, base: tuple, state: _TaskState, prompt: int,
                 input_tokens: int):
        """The attempts of one leg; returns _OK, _FAILED, or _SWITCH (a provider error or rejection on a
        leg with a fallback: the leg ends at once)."""
        world = self.world
        model = leg.model
        switch = leg.on_provider_error is not None
        limiter = world.limiters.get(model.ref)
        limit = self.plan.world.limits.get(model.ref)
        feedback_tokens = 0  # failed answers and error messages sent with the retries
        for attempt in range(step.max_attempts):
            occurrence = (*base, index, attempt)
            if attempt:
                u = self.draws.uniform(state.offset, step.retry_wait.key, occurrence)
                yield from self.wait(state, step.retry_wait.wait_s(attempt, u))
                if self.over_budget(state):
                    return _FAILED
            state.attempts += 1
            output = self.value(state, step.output, occurrence)
            reasoning = 0 if model.reasoning is None else self.value(state, model.reasoning, occurrence)
            sent_tokens = input_tokens + feedback_tokens
            if limiter is not None:
                tokens = sent_tokens + output + reasoning
                if limit.on_limit == "wait" and limiter.can_ever_fit(tokens):
                    start_s = limiter.reserve(state.clock, tokens)
                    state.throttle_wait_s += start_s - state.clock
                    yield from self.wait(state, start_s - state.clock)
                elif not limiter.try_now(state.clock, tokens):
                    state.throttled += 1
                    state.failure = _RATE_LIMITED
                    if world.trace is not None:
                        self.trace_llm(state, step.id, model, attempt, state.clock, 0, 0, 0, 0, 0, 0.0, "rate_limited")
                    if switch:
                        return _SWITCH
                    continue
            # The request is sent now (after any rate-limit wait): an outage at this moment errors it.
            error_rate = world.outage_error_rate(model.ref, state.clock) if world.plan.outages else 0.0
            if error_rate and self.draws.uniform(state.offset, step.error_key, occurrence) < error_rate:
                state.provider_errors += 1
                state.failure = _PROVIDER_ERROR
                if world.trace is not None:
                    self.trace_llm(state, step.id, model, attempt, state.clock, 0, 0, 0, 0, 0, 0.0, "provider_error")
                if switch:
                    return _SWITCH
                continue
            start_s = state.clock
            cache_read = cache_write = 0
            if self.cache is not None and not model.self_hosted:
                cache_read, cache_write = caching.use(self.cache, state, model.ref, sent_tokens,
                                                      step.history == "full", start_s)
            billed_output = output + reasoning
            cost_usd = model.attempt_cost_usd(sent_tokens, billed_output, cache_read, cache_write,
                                              self.cache is not None and self.cache.write_1h)
            if model.self_hosted:
                server = world.servers[model.ref]
                request = server.slots.request()
                yield request
                state.clock = self.env.now
                service_s = server.service_s(sent_tokens, billed_output)
                yield self.env.timeout(service_s)
                state.clock = self.env.now
                server.slots.release(request)
                server.busy_s += service_s
                server.last_end_s = self.env.now
                state.gpu_s += service_s
            elif model.batch_delay is not None:
                yield from self.wait(state, self.value(state, model.batch_delay, occurrence))
            else:
                duration_s = self.value(state, model.ttft, occurrence)
                if billed_output:
                    duration_s += billed_output / max(self.value(state, model.speed, occurrence), 1e-9)
                yield from self.wait(state, duration_s)
            state.billed_attempts += 1
            state.input_tokens += sent_tokens
            state.output_tokens += output
            state.reasoning_tokens += reasoning
            state.cost_usd += cost_usd
            if cache_read or cache_write:
                state.cache_read_tokens += cache_read
                state.cache_write_tokens += cache_write
                state.cache_hits += cache_read > 0
                state.cache_saving_usd += model.attempt_cost_usd(sent_tokens, billed_output) - cost_usd
            # One draw per attempt, shared by every model (no leg in its occurrence): an attempt that
            # fails a model fails every model with a higher failure probability, so a strong model is
            # never counted right where a strategy that uses it alone would be wrong.
            p = model.fail_probability_for(state.difficulty)
            invalid = bool(p) and self.draws.uniform(state.offset, step.fail_key, (*base, attempt)) < p
            validator = leg.validator
            if validator is None:
                accepted = not invalid
                outcome = "invalid_output" if invalid else "ok"
            else:  # the cascade's check decides; it errs both ways
                u = self.draws.uniform(state.offset, validator.key, occurrence)
                accepted = u < validator.false_accept if invalid else u >= validator.false_reject
                outcome = ("accepted_invalid" if accepted else "invalid_output") if invalid else (
                    "ok" if accepted else "rejected_valid")
            if world.trace is not None:
                self.trace_llm(state, step.id, model, attempt, start_s, sent_tokens, output, reasoning, cache_read,
                               cache_write, cost_usd, outcome)
            if validator is not None:
                state.validations += 1
                yield from self.side_call(state, f"{step.id}.validator", validator.model, validator.prompt,
                                          validator.output, validator.cost_usd, occurrence, output)
                if accepted and invalid:
                    state.accepted_invalid += 1
                    state.wrong = True
                elif not accepted and not invalid:
                    state.rejected_valid += 1
            if not accepted:
                state.failure = _INVALID
                if step.feedback is not None:
                    feedback_tokens += output + self.value(state, step.feedback, occurrence)
                continue
            state.transcript_tokens += prompt + output
            return _OK
        return _FAILED

    # -- traces ------------------------------------------------------------------------------------------
    def trace_llm(self, state, step_id, model, attempt, start_s, input_tokens, output, reasoning, cache_read,
                  cache_write, cost_usd, outcome):
        self.world.trace.append((
            self.plan.alternative, self.replication, state.task_id, state.run, step_id, "chat", model.ref,
            attempt + 1, attempt, start_s, state.clock, state.clock - start_s, self.plan.task_type, input_tokens,
            output + reasoning, reasoning, cache_read, cache_write, cache_read > 0, 0, outcome, cost_usd,
            model.batch_delay is not None))

    def trace_tool(self, state, step, attempt, start_s, result, failed):
        self.world.trace.append((
            self.plan.alternative, self.replication, state.task_id, state.run, step.id, "execute_tool", step.tool,
            attempt + 1, attempt, start_s, state.clock, state.clock - start_s, self.plan.task_type, 0, result, 0, 0,
            0, False, 1, "tool_error" if failed else "ok", step.cost_usd, False))


def _difficulty(plan, draws: BlockDraws, offset: int):
    """A task's difficulty: its class index, or its score."""
    if plan.score is not None:
        return draws.value(offset, plan.score, ())
    return min(bisect_right(plan.cumulative, draws.uniform(offset, plan.key, ())), len(plan.cumulative) - 1)


def _input_tokens(step: LlmCall, model, state: _TaskState, prompt: int) -> int | None:
    """The call's input on ``model``, or None if it cannot fit the model's context window."""
    input_tokens = state.head_tokens + prompt
    if step.history != "none":
        input_tokens += state.transcript_tokens
    window = model.context_window_tokens
    if window is None or input_tokens <= window:
        return input_tokens
    if step.history == "window" and state.head_tokens + prompt <= window:
        return window  # the oldest turns are dropped until the input fits
    return None
