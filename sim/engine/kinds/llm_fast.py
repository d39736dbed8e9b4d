"""The ``llm`` step on the vectorised engine: a call of many tasks at once, leg by leg and attempt by attempt.

``run(block, node, base, idx)`` returns which of tasks ``idx`` (positions in a
:class:`sim.engine.fast.Block`) kept an answer. Tasks move through the legs and attempts in lockstep: each
round takes the tasks still trying, and every sum is made in the same order as for one task on the
SimPy engine (:mod:`sim.engine.kinds.llm_des`), with the same rules (:mod:`sim.engine.rules`), so each
task's numbers are that engine's to the bit.
"""

from __future__ import annotations

import numpy as np

from sim.core.records import FAILURE_CODE
from sim.core.tokenizers import scale_tokens_array
from sim.engine.rules.choice import pick_array, pick_by_row_array
from sim.engine.rules.context import input_tokens_array
from sim.engine.rules.cost import attempt_cost_usd_array
from sim.engine.rules.duration import call_duration_s_array
from sim.engine.rules.odds import accepted_array, invalid_array
from sim.engine.updates import add_at

_INVALID = FAILURE_CODE["invalid_output"]
_CONTEXT = FAILURE_CODE["context_exceeded"]
_INT = np.int64


def run(block, step, base: tuple, idx: np.ndarray) -> np.ndarray:
    prompt = block.counts(step.prompt, base, idx)
    done = np.zeros(len(idx), dtype=bool)
    if step.route is None:
        done[:] = legs(block, step, step.legs, base, idx, prompt)
        return done
    option = choose(block, step, idx)
    models = _plain_options(block, step)
    if models is not None:
        done[:] = together(block, step, models, base, idx, prompt, option)
        return done
    for index, option_legs in enumerate(step.choices):
        position = np.flatnonzero(option == index)
        if position.size:
            done[position] = legs(block, step, option_legs, base, idx[position], prompt[position])
    return done


def choose(block, step, idx: np.ndarray) -> np.ndarray:
    """The option of the step's split or router per task (-1 where a budget cap stopped the router)."""
    route = step.route
    chosen = block.choices.setdefault(route.role, np.full(block.n, -1, dtype=_INT))
    new = idx[chosen[idx] < 0]
    if new.size:
        occurrence = (block.run_index,)
        router = route.router
        if router is not None:
            if router.model is not None and block.budget is not None:
                new = new[~block.over_budget(new, new_call=True)]
            side_call(block, new, router.model, router.prompt, router.output, router.cost_usd, occurrence, 0)
            u = block.uniform(route.key, occurrence, new)
            option = pick_by_row_array(route.cumulative, block.difficulty_class[new], u)
        else:
            option = pick_array(route.cumulative[0], block.uniform(route.key, occurrence, new))
        chosen[new] = option
        block.route[new] = option
    return chosen[idx]


def _plain_options(block, step) -> tuple | None:
    """The options' models when :func:`together` can run the options of the step's split or router as one
    call: each option is one plain leg (no validator, no fallback, no escalation) on a flat-priced,
    unbatched model without reasoning or an output of its own, all of one token ratio, with a failure
    chance that is fixed or by difficulty class, and the run has no budget, prompt cache or error
    feedback. None otherwise (each option then runs on its own tasks)."""
    if block.budget is not None or block.cache is not None or step.feedback is not None:
        return None
    models = []
    for option_legs in step.choices:
        if len(option_legs) != 1 or option_legs[0].validator is not None:
            return None
        model = option_legs[0].model
        if (model.input_usd_per_token is None or model.batch_delay is not None or model.reasoning is not None
                or model.output is not None or model.quality_skill is not None or model.carry_reasoning
                or model.token_ratio != step.choices[0][0].model.token_ratio
                or (model.context_window_tokens is not None and step.history == "window")):
            return None
        models.append(model)
    return tuple(models)


def _by_option(option: np.ndarray, values: list, dtype=float):
    """Per task, the value of its option: ``values[option[i]]`` (scalars, or arrays over the option's tasks);
    the one value itself when every option has the same (two models of one speed, say): no array to make."""
    if all(np.ndim(value) == 0 for value in values):
        if all(value == values[0] for value in values):
            return dtype(values[0])
        return np.asarray(values, dtype=dtype)[option]
    out = np.empty(len(option), dtype=dtype)
    for index, value in enumerate(values):
        out[option == index] = value
    return out


def together(block, step, models: tuple, base: tuple, idx: np.ndarray, prompt: np.ndarray,
             option: np.ndarray) -> np.ndarray:
    """The call of a step whose options are plain legs (:func:`_plain_options`), every option at once: each
    task's option supplies its model's prices, timing, failure chance and context window as per-task
    arrays. Each task goes through exactly the updates, in the same order, that :func:`legs` and
    :func:`attempts` make for its option alone (the draws' sources and occurrences are the option's
    too), so its numbers are the same to the bit; the updates work on all of the step's tasks at once
    instead of on each option's scattered share."""
    cur = block.at(idx)
    add_at(block.calls, cur, 1)
    for index, model in enumerate(models):
        count = int(np.count_nonzero(option == index))
        if count:
            block.model_calls[model.ref] = block.model_calls.get(model.ref, 0) + count
    ratio = models[0].token_ratio
    input_tokens, _ = input_tokens_array(block.head[cur], prompt, block.transcript[cur], step.history, None, 0,
                                         ratio, 0)
    kept = np.zeros(len(idx), dtype=bool)
    windows = [model.context_window_tokens for model in models]
    if any(window is not None for window in windows):
        limit = _by_option(option, [np.inf if window is None else window for window in windows])
        fits = input_tokens <= limit
        if not fits.all():
            over = idx[~fits]
            add_at(block.attempts, over, 1)
            block.failure[over] = _CONTEXT
            position = np.flatnonzero(fits)
            kept[position] = _attempts_together(block, step, models, base, idx[position], prompt[position],
                                                input_tokens[position], option[position])
            return kept
    return _attempts_together(block, step, models, base, idx, prompt, input_tokens, option)


def _attempts_together(block, step, models: tuple, base: tuple, idx: np.ndarray, prompt: np.ndarray,
                       input_tokens: np.ndarray, option: np.ndarray) -> np.ndarray:
    """:func:`attempts` of the first leg of every option at once (see :func:`together`)."""
    price_in = np.array([model.input_usd_per_token for model in models])
    price_out = np.array([model.output_usd_per_token for model in models])
    ratio = models[0].token_ratio
    classes = None
    if any(model.quality_fail is not None for model in models):
        classes = max(len(model.quality_fail) for model in models if model.quality_fail is not None)
        fail_table = np.array([model.quality_fail if model.quality_fail is not None else
                               (model.fail_probability,) * classes for model in models], dtype=float)
    kept = np.zeros(len(idx), dtype=bool)
    pending = np.arange(len(idx))
    for attempt in range(step.max_attempts):
        if not pending.size:
            break
        occurrence = (*base, 0, attempt)
        current, chosen = (idx[pending], option[pending]) if attempt else (idx, option)
        if attempt:
            u = block.uniform(step.retry_wait.key, occurrence, current)
            block.wait(current, step.retry_wait.wait_s(attempt, u))
        cur = block.at(current)
        add_at(block.attempts, cur, 1)
        sent = input_tokens[pending] if attempt else input_tokens
        output = block.counts(step.output, occurrence, current)
        written = scale_tokens_array(output, ratio)
        cost = sent * price_in[chosen] + written * price_out[chosen]
        ttft = _by_option(chosen, [_values(block, model.ttft, occurrence, current, chosen, index)
                                   for index, model in enumerate(models)])
        speed = _by_option(chosen, [_values(block, model.speed, occurrence, current, chosen, index)
                                    for index, model in enumerate(models)])
        block.wait(current, call_duration_s_array(ttft, speed, written))
        add_at(block.billed_attempts, cur, 1)
        add_at(block.input_tokens, cur, sent)
        add_at(block.output_tokens, cur, written)
        add_at(block.cost_usd, cur, cost)
        if classes is not None:
            p = fail_table[chosen, block.difficulty_class[current]]
        else:
            p = _by_option(chosen, [model.fail_probability for model in models])
        if not np.any(p):
            invalid = np.zeros(len(current), dtype=bool)
        else:
            invalid = invalid_array(p, block.uniform(step.fail_key, (*base, attempt), current))
        if not invalid.any():
            add_at(block.transcript, cur, (prompt[pending] if attempt else prompt) + output)
            kept[pending] = True
            break
        rejected = np.flatnonzero(invalid)
        accepted = np.flatnonzero(~invalid)
        block.failure[current[rejected]] = _INVALID
        said = (prompt[pending] if attempt else prompt) + output  # what each answer adds to the conversation
        add_at(block.transcript, current[accepted], said[accepted])
        kept[pending[accepted]] = True
        pending = pending[rejected]
    return kept


def _values(block, draw, occurrence: tuple, current: np.ndarray, chosen: np.ndarray, index: int):
    """An option's model's draw for the tasks of ``current`` on that option: its fixed value, or an array."""
    if draw.fixed is not None:
        return draw.fixed
    return block.values(draw, occurrence, current[chosen == index])


def side_call(block, idx, model, prompt_draw, output_draw, flat_usd: float, occurrence: tuple, answer_tokens) -> None:
    """A router's or validator's call, as :func:`sim.engine.kinds.llm_des.side_call`."""
    if not len(idx):
        return
    sel = block.at(idx)
    if model is None:
        cost = np.full(len(idx), flat_usd)
    else:
        prompt = block.values(prompt_draw, occurrence, idx)
        # a fixed output (a router's one-word answer) stays one number: its cost, duration and wait are then
        # worked out once, not once per task (the same values)
        output = scale_tokens_array(output_draw.fixed if output_draw.fixed is not None else
                                    block.counts(output_draw, occurrence, idx), model.token_ratio)
        reasoning = 0 if model.reasoning is None else block.values(model.reasoning, occurrence, idx)
        billed_output = output if model.reasoning is None else output + reasoning
        asked = block.head[sel] + prompt
        input_tokens = scale_tokens_array(asked + answer_tokens if np.ndim(answer_tokens) or answer_tokens else asked,
                                          model.token_ratio)
        cost = attempt_cost_usd_array(model, input_tokens, billed_output) + flat_usd  # = flat + cost, to the bit
        block.wait(idx, _duration_s(block, model, idx, occurrence, billed_output))
        add_at(block.calls, sel, 1)
        add_at(block.attempts, sel, 1)
        add_at(block.billed_attempts, sel, 1)
        add_at(block.input_tokens, sel, input_tokens)
        add_at(block.output_tokens, sel, output)
        if model.reasoning is not None:
            add_at(block.reasoning_tokens, sel, reasoning)
    add_at(block.cost_usd, sel, cost)
    add_at(block.routing_usd, sel, cost)


def _duration_s(block, model, idx, occurrence: tuple, billed_output):
    return call_duration_s_array(block.values(model.ttft, occurrence, idx), block.values(model.speed, occurrence, idx),
                                 billed_output)


def legs(block, step, call_legs: tuple, base: tuple, idx: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """One call of ``step`` on tasks ``idx`` through its legs; which tasks' calls got an answer kept.
    Legs only ever move forward, so taking them in order runs every task's legs in its own order."""
    if len(call_legs) == 1 and block.budget is None:
        return _one_leg(block, step, call_legs[0], base, idx, prompt)
    done = np.zeros(len(idx), dtype=bool)
    at = np.zeros(len(idx), dtype=_INT)  # each task's current leg; -1: the call has failed
    for index, leg in enumerate(call_legs):
        everyone = index == 0  # every task starts on the first leg: no look-ups until some leave it
        position = np.arange(len(idx)) if everyone else np.flatnonzero(at == index)
        if not position.size:
            continue
        if block.budget is not None:
            stop = block.over_budget(idx[position], new_call=True)
            at[position[stop]] = -1
            position = position[~stop]
            everyone = everyone and not stop.any()
            if not position.size:
                continue
        current, leg_prompt = (idx, prompt) if everyone else (idx[position], prompt[position])
        cur = block.at(current)
        model = leg.model
        add_at(block.calls, cur, 1)
        block.model_calls[model.ref] = block.model_calls.get(model.ref, 0) + len(current)
        if index:
            add_at(block.escalations, cur, 1)
        input_tokens, fits = input_tokens_array(block.head[cur], leg_prompt, block.transcript[cur],
                                                step.history, model.context_window_tokens, 0, model.token_ratio,
                                                carried_tokens(block, model, step, cur))
        if fits.all():  # the usual case: no masks
            kept = attempts(block, step, index, leg, base, current, leg_prompt, input_tokens)
            got = position[kept]
            at[position[~kept]] = -1 if leg.on_failure is None else leg.on_failure
        else:
            over = current[~fits]
            add_at(block.attempts, over, 1)
            block.failure[over] = _CONTEXT
            kept = attempts(block, step, index, leg, base, current[fits], leg_prompt[fits], input_tokens[fits])
            got = position[fits][kept]
            at[np.concatenate([position[~fits], position[fits][~kept]])] = -1 if leg.on_failure is None else \
                leg.on_failure
        done[got] = True
        at[got] = -1
    return done


def _one_leg(block, step, leg, base: tuple, idx: np.ndarray, prompt: np.ndarray) -> np.ndarray:
    """:func:`legs` for a call of one leg and a run without a budget (most calls): the same updates in the
    same order, without the arrays that follow tasks from leg to leg."""
    cur = block.at(idx)
    model = leg.model
    add_at(block.calls, cur, 1)
    block.model_calls[model.ref] = block.model_calls.get(model.ref, 0) + len(idx)
    input_tokens, fits = input_tokens_array(block.head[cur], prompt, block.transcript[cur], step.history,
                                            model.context_window_tokens, 0, model.token_ratio,
                                            carried_tokens(block, model, step, cur))
    if fits.all():  # the usual case: no masks
        return attempts(block, step, 0, leg, base, idx, prompt, input_tokens)
    over = idx[~fits]
    add_at(block.attempts, over, 1)
    block.failure[over] = _CONTEXT
    done = np.zeros(len(idx), dtype=bool)
    position = np.flatnonzero(fits)
    done[position] = attempts(block, step, 0, leg, base, idx[position], prompt[position], input_tokens[position])
    return done


def carried_tokens(block, model, step, cur):
    """Reasoning the model carries into this call, as :func:`sim.engine.kinds.llm_des.carried_tokens`."""
    if not model.carry_reasoning or step.history == "none" or model.ref not in block.carried:
        return 0
    return block.carried[model.ref][cur]


def attempts(block, step, index: int, leg, base: tuple, idx: np.ndarray, prompt: np.ndarray,
             input_tokens: np.ndarray) -> np.ndarray:
    """A leg's attempts on tasks ``idx``; which of them had an answer kept."""
    model, validator, cache = leg.model, leg.validator, block.cache
    kept = np.zeros(len(idx), dtype=bool)
    feedback = None if step.feedback is None else np.zeros(len(idx), dtype=_INT)
    pending = None  # positions in idx of the tasks still trying; None: all (the first attempt)
    for attempt in range(step.max_attempts):
        if pending is not None and not pending.size:
            break
        occurrence = (*base, index, attempt)
        current = idx[pending] if attempt else idx  # the first attempt: every task of the leg
        if attempt:
            u = block.uniform(step.retry_wait.key, occurrence, current)
            block.wait(current, step.retry_wait.wait_s(attempt, u))
            if block.budget is not None:
                pending = pending[~block.over_budget(current)]
                current = idx[pending]
        cur = block.at(current)
        add_at(block.attempts, cur, 1)
        sent = input_tokens[pending] if attempt else input_tokens
        if attempt and step.feedback is not None:  # the retry carries the failed answers and complaints
            sent, fits = input_tokens_array(block.head[cur], prompt[pending], block.transcript[cur], step.history,
                                            model.context_window_tokens, feedback[pending], model.token_ratio,
                                            carried_tokens(block, model, step, cur))
            if not fits.all():  # they no longer fit the context window: no further retry can help
                block.failure[current[~fits]] = _CONTEXT
                pending, current, sent = pending[fits], current[fits], sent[fits]
                if not pending.size:
                    break
                cur = block.at(current)
        output = block.counts(step.output if model.output is None else model.output, occurrence, current)
        written = scale_tokens_array(output, model.token_ratio)  # the answer in the model's own tokens
        reasoning = 0 if model.reasoning is None else block.values(model.reasoning, occurrence, current)
        billed_output = written if model.reasoning is None else written + reasoning
        cost = attempt_cost_usd_array(model, sent, billed_output)
        rule = None if cache is None else cache.rule(model.ref)
        if rule is not None:
            found = None if rule.hit_probability >= 1.0 else (
                block.uniform(step.cache_key, occurrence, current) < rule.hit_probability)
            read, wrote = block.caches.use(model.ref, current, sent, step.history == "full", block.clock[cur],
                                           found, model.token_ratio, rule)
            used = (read != 0) | (wrote != 0)
            if used.any():
                uncached = np.broadcast_to(cost, sent.shape)
                cost = attempt_cost_usd_array(model, sent, billed_output, read, wrote, rule.write_1h, uncached)
                here = current[used]
                add_at(block.cache_read_tokens, here, read[used])
                add_at(block.cache_write_tokens, here, wrote[used])
                add_at(block.cache_hits, here, read[used] > 0)
                add_at(block.cache_saving_usd, here, uncached[used] - cost[used])
        if model.batch_delay is not None:
            block.wait(current, block.values(model.batch_delay, occurrence, current))
        else:
            block.wait(current, _duration_s(block, model, current, occurrence, billed_output))
        add_at(block.billed_attempts, cur, 1)
        add_at(block.input_tokens, cur, sent)
        add_at(block.output_tokens, cur, written)
        if model.reasoning is not None:
            add_at(block.reasoning_tokens, cur, reasoning)
        add_at(block.cost_usd, cur, cost)
        p = block.fail_probability(model, current)
        if np.ndim(p) == 0 and p == 0:
            invalid = np.zeros(len(current), dtype=bool)
        else:
            invalid = invalid_array(p, block.uniform(step.fail_key, (*base, attempt), current))  # current's shape
        if validator is None:
            accepted = ~invalid
        else:
            u = block.uniform(validator.key, occurrence, current)
            accepted = accepted_array(invalid, u, validator.false_accept, validator.false_reject)
            add_at(block.validations, cur, 1)
            side_call(block, current, validator.model, validator.prompt, validator.output, validator.cost_usd,
                      occurrence, output)
            slipped = current[accepted & invalid]
            add_at(block.accepted_invalid, slipped, 1)
            block.wrong[slipped] = True
            add_at(block.rejected_valid, current[~accepted & ~invalid], 1)
        rejected = ~accepted
        if model.carry_reasoning and model.reasoning is not None:
            carried = block.carried.setdefault(model.ref, np.zeros(block.n, dtype=_INT))
            add_at(carried, current[accepted], np.broadcast_to(reasoning, current.shape)[accepted])
        if not rejected.any():  # every attempt's answer kept: no masks needed
            add_at(block.transcript, cur, (prompt[pending] if attempt else prompt) + output)
            kept[slice(None) if pending is None else pending] = True
            break
        rejected = np.flatnonzero(rejected)  # positions, once, for the several look-ups below
        accepted = np.flatnonzero(accepted)
        block.failure[current[rejected]] = _INVALID
        if step.feedback is not None:
            feedback[rejected if pending is None else pending[rejected]] += output[rejected] + block.values(
                step.feedback, occurrence, current[rejected])
        said = (prompt[pending] if attempt else prompt) + output  # what each answer adds to the conversation
        add_at(block.transcript, current[accepted], said[accepted])
        kept[accepted if pending is None else pending[accepted]] = True
        pending = rejected if pending is None else pending[rejected]
    return kept
