"""The ``llm`` step on the SimPy engine: one task's call, leg by leg and attempt by attempt.

A generator for :class:`sim.engine.des.Runner`: ``yield from run(runner, node, base, state)`` returns
whether the call kept an answer. Time passes through ``runner.wait`` (a SimPy timeout with traffic, the
task's own clock without), or through a self-hosted server's request slot. The rules it applies live in
:mod:`sim.engine.rules`; the vectorised twin of this module is :mod:`sim.engine.kinds.llm_fast`.
"""

from __future__ import annotations

from sim.core.records import FAILURE_CODE
from sim.core.tokenizers import scale_tokens
from sim.engine import caching
from sim.engine.rules.choice import pick
from sim.engine.rules.context import input_tokens as call_input_tokens
from sim.engine.rules.cost import attempt_cost_usd
from sim.engine.rules.duration import call_duration_s
from sim.engine.rules.odds import accepted as validator_accepts
from sim.engine.rules.odds import fail_probability

_INVALID = FAILURE_CODE["invalid_output"]
_PROVIDER_ERROR = FAILURE_CODE["provider_error"]
_RATE_LIMITED = FAILURE_CODE["rate_limited"]
_CONTEXT = FAILURE_CODE["context_exceeded"]
# What a leg's attempts come to: the answer was kept; every attempt failed; a provider error or
# rejection ended the leg at once (it has a fallback to switch to).
_FAILED, _OK, _SWITCH = 0, 1, 2


def run(runner, step, base: tuple, state):
    """One llm step: the route's choice, then its legs (attempts, retries, escalation, fallback)."""
    prompt = runner.value(state, step.prompt, base)
    legs = step.legs
    if step.route is not None:
        option = yield from choose(runner, step, state)
        if option is None:
            return False
        legs = step.choices[option]
    index = 0
    while index is not None:
        leg = legs[index]
        model = leg.model
        if runner.over_budget(state, new_call=True):
            return False
        state.calls += 1
        runner.model_calls[model.ref] = runner.model_calls.get(model.ref, 0) + 1
        if index:
            state.escalations += 1
        input_tokens = call_input_tokens(state.head_tokens, prompt, state.transcript_tokens, step.history,
                                         model.context_window_tokens, 0, model.token_ratio,
                                         carried_tokens(state, model, step))
        if input_tokens is None:  # does not fit the model's context window: no retry can help
            state.attempts += 1
            state.failure = _CONTEXT
            if runner.world.trace is not None:
                trace(runner, state, step.id, model, 0, state.clock, 0, 0, 0, 0, 0, 0.0, "context_exceeded")
            index = leg.on_failure
            continue
        outcome = yield from attempts(runner, step, index, leg, base, state, prompt, input_tokens)
        if outcome == _OK:
            return True
        index = leg.on_provider_error if outcome == _SWITCH else leg.on_failure
    return False


def carried_tokens(state, model, step) -> int:
    """Reasoning the model carries into this call (its kept reasoning earlier in the turn), in its tokens."""
    if not model.carry_reasoning or step.history == "none" or state.carried is None:
        return 0
    return state.carried.get(model.ref, 0)


def choose(runner, step, state):
    """The option of the step's split or router for this run of the task (made on the role's first
    call in the run, the router's call billed then); None if a budget cap stops the router's call."""
    route = step.route
    option = state.choices.get(route.role)
    if option is not None:
        return option
    occurrence = (state.run,)
    if route.router is not None:
        if route.router.model is not None and runner.over_budget(state, new_call=True):
            return None
        yield from side_call(runner, state, f"{step.id}.router", route.router.model, route.router.prompt,
                             route.router.output, route.router.cost_usd, occurrence, 0)
        row = route.cumulative[state.difficulty]
    else:
        row = route.cumulative[0]
    option = pick(row, runner.draws.uniform(state.offset, route.key, occurrence))
    state.choices[route.role] = option
    state.route = option
    return option


def side_call(runner, state, name: str, model, prompt_draw, output_draw, flat_usd: float, occurrence: tuple,
              answer_tokens: int):
    """A router's or validator's call: its own prompt (plus the system prompt and the user's
    request, plus the answer it judges), its own output, billed to the task and to ``routing_usd``.
    It goes through no cache, rate limit, outage or server queue."""
    cost_usd = flat_usd
    if model is not None:
        prompt = runner.value(state, prompt_draw, occurrence)
        output = scale_tokens(runner.value(state, output_draw, occurrence), model.token_ratio)
        reasoning = 0 if model.reasoning is None else runner.value(state, model.reasoning, occurrence)
        input_tokens = scale_tokens(state.head_tokens + prompt + answer_tokens, model.token_ratio)
        model_usd = attempt_cost_usd(model, input_tokens, output + reasoning)
        cost_usd += model_usd
        start_s = state.clock
        yield from runner.wait(state, _duration_s(runner, state, model, occurrence, output + reasoning))
        state.calls += 1
        state.attempts += 1
        state.billed_attempts += 1
        state.input_tokens += input_tokens
        state.output_tokens += output
        state.reasoning_tokens += reasoning
        if runner.world.trace is not None:
            trace(runner, state, name, model, 0, start_s, input_tokens, output, reasoning, 0, 0, model_usd, "ok")
    state.cost_usd += cost_usd
    state.routing_usd += cost_usd


def _duration_s(runner, state, model, occurrence: tuple, billed_output: int) -> float:
    """The answer's time to first token plus its tokens at the model's speed (drawn only if it has tokens)."""
    ttft_s = runner.value(state, model.ttft, occurrence)
    speed = runner.value(state, model.speed, occurrence) if billed_output else 0.0
    return call_duration_s(ttft_s, speed, billed_output)


def attempts(runner, step, index: int, leg, base: tuple, state, prompt: int, input_tokens: int):
    """The attempts of one leg; returns _OK, _FAILED, or _SWITCH (a provider error or rejection on a
    leg with a fallback: the leg ends at once)."""
    world, draws, cache = runner.world, runner.draws, runner.cache
    model = leg.model
    switch = leg.on_provider_error is not None
    limiter = world.limiters.get(model.ref)
    limit = runner.plan.world.limits.get(model.ref)
    feedback_tokens = 0  # failed answers and error messages sent with the retries
    for attempt in range(step.max_attempts):
        occurrence = (*base, index, attempt)
        if attempt:
            u = draws.uniform(state.offset, step.retry_wait.key, occurrence)
            yield from runner.wait(state, step.retry_wait.wait_s(attempt, u))
            if runner.over_budget(state):
                return _FAILED
        state.attempts += 1
        sent_tokens = input_tokens
        if attempt and step.feedback is not None:  # the retry carries the failed answers and complaints
            sent_tokens = call_input_tokens(state.head_tokens, prompt, state.transcript_tokens, step.history,
                                            model.context_window_tokens, feedback_tokens, model.token_ratio,
                                            carried_tokens(state, model, step))
            if sent_tokens is None:  # they no longer fit the context window: no further retry can help
                state.failure = _CONTEXT
                if world.trace is not None:
                    trace(runner, state, step.id, model, attempt, state.clock, 0, 0, 0, 0, 0, 0.0, "context_exceeded")
                return _FAILED
        output = runner.value(state, step.output if model.output is None else model.output, occurrence)
        written = scale_tokens(output, model.token_ratio)  # the answer in the model's own tokens
        reasoning = 0 if model.reasoning is None else runner.value(state, model.reasoning, occurrence)
        if limiter is not None:
            tokens = sent_tokens + written + reasoning
            if limit.on_limit == "wait" and limiter.can_ever_fit(tokens):
                start_s = limiter.reserve(state.clock, tokens)
                state.throttle_wait_s += start_s - state.clock
                yield from runner.wait(state, start_s - state.clock)
            elif not limiter.try_now(state.clock, tokens):
                state.throttled += 1
                state.failure = _RATE_LIMITED
                if world.trace is not None:
                    trace(runner, state, step.id, model, attempt, state.clock, 0, 0, 0, 0, 0, 0.0, "rate_limited")
                if switch:
                    return _SWITCH
                continue
        # The request is sent now (after any rate-limit wait): an outage at this moment errors it.
        error_rate = world.outage_error_rate(model.ref, state.clock) if world.plan.outages else 0.0
        if error_rate and draws.uniform(state.offset, step.error_key, occurrence) < error_rate:
            state.provider_errors += 1
            state.failure = _PROVIDER_ERROR
            if world.trace is not None:
                trace(runner, state, step.id, model, attempt, state.clock, 0, 0, 0, 0, 0, 0.0, "provider_error")
            if switch:
                return _SWITCH
            continue
        start_s = state.clock
        cache_read = cache_write = 0
        rule = None if cache is None or model.self_hosted else cache.rule(model.ref)
        if rule is not None:
            found = rule.hit_probability >= 1.0 or (
                draws.uniform(state.offset, step.cache_key, occurrence) < rule.hit_probability)
            cache_read, cache_write = caching.use(rule, state, model.ref, sent_tokens, step.history == "full",
                                                  start_s, found, model.token_ratio)
        billed_output = written + reasoning
        cost_usd = attempt_cost_usd(model, sent_tokens, billed_output, cache_read, cache_write,
                                    rule is not None and rule.write_1h)
        if model.self_hosted:
            yield from _serve(runner, state, model, sent_tokens, billed_output)
        elif model.batch_delay is not None:
            yield from runner.wait(state, runner.value(state, model.batch_delay, occurrence))
        else:
            ttft_s = runner.value(state, model.ttft, occurrence)
            speed = runner.value(state, model.speed, occurrence) if billed_output else 0.0
            yield from runner.wait(state, call_duration_s(ttft_s, speed, billed_output))
        state.billed_attempts += 1
        state.input_tokens += sent_tokens
        state.output_tokens += written
        state.reasoning_tokens += reasoning
        state.cost_usd += cost_usd
        if cache_read or cache_write:
            state.cache_read_tokens += cache_read
            state.cache_write_tokens += cache_write
            state.cache_hits += cache_read > 0
            state.cache_saving_usd += attempt_cost_usd(model, sent_tokens, billed_output) - cost_usd
        # One draw per attempt, shared by every model (no leg in its occurrence): an attempt that
        # fails a model fails every model with a higher failure probability, so a strong model is
        # never counted right where a strategy that uses it alone would be wrong.
        p = fail_probability(model, state.difficulty)
        invalid = bool(p) and draws.uniform(state.offset, step.fail_key, (*base, attempt)) < p
        validator = leg.validator
        if validator is None:
            accepted = not invalid
            outcome = "invalid_output" if invalid else "ok"
        else:  # the cascade's check decides; it errs both ways
            u = draws.uniform(state.offset, validator.key, occurrence)
            accepted = validator_accepts(invalid, u, validator.false_accept, validator.false_reject)
            outcome = ("accepted_invalid" if accepted else "invalid_output") if invalid else (
                "ok" if accepted else "rejected_valid")
        if world.trace is not None:
            trace(runner, state, step.id, model, attempt, start_s, sent_tokens, written, reasoning, cache_read,
                  cache_write, cost_usd, outcome)
        if validator is not None:
            state.validations += 1
            yield from side_call(runner, state, f"{step.id}.validator", validator.model, validator.prompt,
                                 validator.output, validator.cost_usd, occurrence, output)
            if accepted and invalid:
                state.accepted_invalid += 1
                state.wrong = True
            elif not accepted and not invalid:
                state.rejected_valid += 1
        if not accepted:
            state.failure = _INVALID
            if step.feedback is not None:
                feedback_tokens += output + runner.value(state, step.feedback, occurrence)
            continue
        state.transcript_tokens += prompt + output
        if model.carry_reasoning and reasoning:
            if state.carried is None:
                state.carried = {}
            state.carried[model.ref] = state.carried.get(model.ref, 0) + reasoning
        return _OK
    return _FAILED


def _serve(runner, state, model, sent_tokens: int, billed_output: int):
    """A self-hosted answer: wait for a request slot of the model's server, then its service time."""
    env = runner.env
    server = runner.world.servers[model.ref]
    request = server.slots.request()
    yield request
    state.clock = env.now
    service_s = server.service_s(sent_tokens, billed_output)
    yield env.timeout(service_s)
    state.clock = env.now
    server.slots.release(request)
    server.busy_s += service_s
    server.last_end_s = env.now
    state.gpu_s += service_s


def trace(runner, state, step_id, model, attempt, start_s, input_tokens, output, reasoning, cache_read, cache_write,
          cost_usd, outcome) -> None:
    """One trace row of an llm attempt (or of a router's or validator's call)."""
    plan = runner.plan
    runner.world.trace.append((
        plan.alternative, runner.replication, state.task_id, state.run, step_id, "chat", model.ref,
        attempt + 1, attempt, start_s, state.clock, state.clock - start_s, plan.task_type, input_tokens,
        output + reasoning, reasoning, cache_read, cache_write, cache_read > 0, 0, outcome, cost_usd,
        model.batch_delay is not None))
