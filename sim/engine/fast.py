"""The vectorised engine: a whole block of tasks at once, with NumPy, from the same plan as the SimPy engine.

It walks the plan's steps with every task of the block in lockstep. A set of tasks is an array of
their positions in the block; a step takes the tasks that reach it and returns which of them came
through. Loops run iteration by iteration over the tasks that still have iterations left, branches
split the tasks by arm, a call's legs and attempts run over the tasks still trying. Every draw is the
same pure function of (seed, task, source, occurrence) as in :mod:`sim.engine.des`, taken for just the
tasks that ask, and every sum is made in the same order for each task, so each task's tokens, attempts
and outcome are exactly the SimPy engine's and its cost the same to the last bit.

What it cannot run is what couples tasks or needs event scheduling: ``traffic`` (arrivals over time,
and with it rate limits, outages, self-hosted queues, concurrency, a prompt cache shared by tasks and
the horizon's bill) and per-attempt traces. A prompt cache without traffic is each task's own, and it
runs here (:class:`sim.engine.caching.TaskCaches`). :func:`unsupported` names the feature; ``--engine auto``
then picks the
SimPy engine.
"""

from __future__ import annotations

import math

import numpy as np

from sim.core.errors import CostsimError
from sim.core.randomness import BlockDraws, mixed_tasks, uniforms_of_mixed
from sim.core.records import FAILURE_CODE, TASK_FIELDS, TaskColumns, zeros
from sim.engine.caching import TaskCaches
from sim.engine.plan import LLM, LOOP, TOOL, Draw, LlmCall, Plan

_INVALID = FAILURE_CODE["invalid_output"]
_TOOL_ERROR = FAILURE_CODE["tool_error"]
_CONTEXT = FAILURE_CODE["context_exceeded"]
_BUDGET_COST, _BUDGET_CALLS, _BUDGET_TIME = (FAILURE_CODE[f"budget_{cap}"] for cap in ("cost", "calls", "time"))
_WRONG = FAILURE_CODE["wrong_answer"]
_INT = np.int64


def unsupported(workflow, trace: bool = False) -> str | None:
    """The feature of ``workflow`` (a :class:`~sim.spec.workflow.Workflow`) that needs the SimPy engine, or None."""
    if trace:
        return "--trace (per-attempt trace rows)"
    if workflow.traffic is not None:
        return "traffic (tasks arriving over time, which share limits, outages, servers and caches)"
    return None


class FastEngine:
    """Runs a plan over a block of tasks with array operations; results equal :class:`sim.engine.des.DesEngine`'s."""

    name = "fast"
    #: Tasks per block and per chunk (the unit of a worker's work) when the caller does not say: arrays
    #: this long amortise NumPy's cost per call. Results do not depend on either.
    block_tasks = 100_000
    chunk_tasks = 100_000

    def run_block(self, plan: Plan, draws: BlockDraws, arrivals_s=None, replication: int = 0,
                  trace: list | None = None) -> TaskColumns:
        if plan.world.shared or arrivals_s is not None:
            raise CostsimError("the vectorised engine cannot run traffic; use --engine des")
        if trace is not None:
            raise CostsimError("the vectorised engine writes no traces; use --engine des with --trace")
        block = _Block(plan, draws)
        block.run()
        return block.columns()


class _Block:
    """The tasks of one block: their running totals as arrays, and the steps that update them."""

    def __init__(self, plan: Plan, draws: BlockDraws) -> None:
        self.plan, self.seed, self.task_ids = plan, draws.seed, draws.task_ids
        self.mixed = mixed_tasks(draws.task_ids)  # the tasks' half of every uniform's hash, once
        n = self.n = draws.n_tasks
        self.budget = plan.budget
        zeros_int = lambda: np.zeros(n, dtype=_INT)  # noqa: E731
        self.clock = np.zeros(n)
        self.cost = np.zeros(n)
        self.routing_usd = np.zeros(n)
        self.transcript = zeros_int()
        (self.calls, self.attempts, self.input_tokens, self.output_tokens, self.tool_calls, self.reasoning,
         self.billed, self.escalations, self.validations, self.accepted_invalid, self.rejected_valid,
         self.runs, self.failure) = (zeros_int() for _ in range(13))
        self.route = np.full(n, -1, dtype=_INT)
        self.success = np.zeros(n, dtype=bool)
        self.stopped = np.zeros(n, dtype=bool)
        self.wrong = np.zeros(n, dtype=bool)
        self.choices: dict[str, np.ndarray] = {}  # role -> option its split or router chose, this run
        self.run_index = 0
        self.model_calls: dict[str, int] = {}
        self._fail_cache: dict[int, np.ndarray | float] = {}
        self.cache = plan.world.cache
        self.cache_read = np.zeros(n, dtype=_INT)
        self.cache_write = np.zeros(n, dtype=_INT)
        self.cache_hits = np.zeros(n, dtype=_INT)
        self.cache_saving = np.zeros(n)
        every = np.arange(n)
        system = self.counts(plan.system, (), every)
        self.head = system + self.counts(plan.user, (), every)
        self.difficulty = np.zeros(n)
        self.difficulty_class = np.zeros(n, dtype=_INT)
        if plan.difficulty is not None:
            self._draw_difficulty(plan.difficulty, every)
        if self.cache is not None:
            self.caches = TaskCaches(self.cache, system, self.head)

    def at(self, idx: np.ndarray):
        """``idx`` as an index: a slice when it is every task (positions are sorted and distinct), so that
        updates work in place instead of gathering and scattering."""
        return slice(None) if len(idx) == self.n else idx

    # -- draws -------------------------------------------------------------------------------------------
    def uniform(self, key: int, occurrence: tuple, idx: np.ndarray) -> np.ndarray:
        return uniforms_of_mixed(self.mixed[self.at(idx)], self.seed, key, occurrence)

    def values(self, draw: Draw, occurrence: tuple, idx: np.ndarray):
        """The draw for tasks ``idx``: a scalar when it is fixed, else an array."""
        if draw.fixed is not None:
            return draw.fixed
        return draw.dist.sample(self.uniform(draw.key, occurrence, idx), integer=draw.integer)

    def counts(self, draw: Draw, occurrence: tuple, idx: np.ndarray) -> np.ndarray:
        """An integer draw (tokens, loop counts) for tasks ``idx`` as an array, a fixed one too."""
        return np.broadcast_to(np.asarray(self.values(draw, occurrence, idx), dtype=_INT), idx.shape)

    def _draw_difficulty(self, difficulty, every: np.ndarray) -> None:
        if difficulty.score is not None:
            self.difficulty = np.broadcast_to(np.asarray(self.values(difficulty.score, (), every), dtype=float),
                                              (self.n,)).copy()
            return
        u = self.uniform(difficulty.key, (), every)
        cls = np.minimum(np.searchsorted(np.asarray(difficulty.cumulative), u, side="right"),
                         len(difficulty.cumulative) - 1)
        self.difficulty_class = cls.astype(_INT)
        self.difficulty = cls.astype(float)

    def fail_probability(self, model, idx: np.ndarray):
        """P(an attempt on ``model`` is invalid) for tasks ``idx``: a scalar, or an array by difficulty."""
        if model.quality_fail is not None:
            return np.asarray(model.quality_fail)[self.difficulty_class[idx]]
        if model.quality_skill is not None:
            per_task = self._fail_cache.get(id(model))
            if per_task is None:  # the SimPy engine's math.exp, task by task, for bit-equal odds
                skill, slope = model.quality_skill
                per_task = np.array([1.0 - 1.0 / (1.0 + math.exp(-(skill - d) / slope))
                                     for d in self.difficulty.tolist()])
                self._fail_cache[id(model)] = per_task
            return per_task[idx]
        return model.fail_probability

    # -- shared bookkeeping ------------------------------------------------------------------------------
    def wait(self, idx: np.ndarray, seconds) -> None:
        if np.ndim(seconds) == 0:
            if seconds > 0:
                self.clock[self.at(idx)] += seconds
            return
        self.clock[self.at(idx)] += np.where(seconds > 0, seconds, 0.0)

    def over_budget(self, idx: np.ndarray, new_call: bool = False) -> np.ndarray:
        """Which of tasks ``idx`` a budget cap stops before their next attempt (or call); marks them."""
        budget = self.budget
        stop = np.zeros(len(idx), dtype=bool)
        if budget is None or not len(idx):
            return stop
        code = np.zeros(len(idx), dtype=_INT)
        checks = [(budget.max_cost_usd, lambda: self.cost[idx], _BUDGET_COST),
                  (budget.max_calls if new_call else None, lambda: self.calls[idx], _BUDGET_CALLS),
                  (budget.max_wall_s, lambda: self.clock[idx] - 0.0, _BUDGET_TIME)]
        for cap, current, reason in checks:
            if cap is not None:
                hit = ~stop & (current() >= cap)
                code[hit] = reason
                stop |= hit
        stopped = idx[stop]
        self.failure[stopped] = code[stop]
        self.stopped[stopped] = True
        return stop

    def attempt_cost(self, model, input_tokens, output_tokens) -> np.ndarray:
        """What :meth:`sim.engine.plan.CallModel.attempt_cost_usd` gives, task by task (no cache)."""
        if model.input_usd_per_token is not None:
            return input_tokens * model.input_usd_per_token + output_tokens * model.output_usd_per_token
        n = max(np.size(input_tokens), np.size(output_tokens))
        return model.rates.attempt_cost_usd_array(np.broadcast_to(input_tokens, (n,)),
                                                  np.broadcast_to(output_tokens, (n,)),
                                                  0, 0, model.batch_delay is not None)

    def call_time(self, model, idx, occurrence, billed_output):
        """Seconds one answer takes: time to first token plus its tokens over the model's speed."""
        ttft = self.values(model.ttft, occurrence, idx)
        speed = np.maximum(self.values(model.speed, occurrence, idx), 1e-9)
        return ttft + billed_output / speed  # no tokens: ttft + 0.0, exactly the SimPy engine's ttft

    # -- the task ------------------------------------------------------------------------------------------
    def run(self) -> None:
        todo = np.arange(self.n)
        for run in range(self.plan.task_attempts):
            if not todo.size:
                break
            self.run_index = run
            self.runs[todo] += 1
            self.transcript[todo] = 0
            if self.cache is not None:
                self.caches.new_run(todo)
            self.wrong[todo] = False
            for chosen in self.choices.values():
                chosen[todo] = -1
            ok = self.steps(self.plan.steps, (run,), todo)
            through = todo[ok]
            wrong = self.wrong[through]
            self.success[through[~wrong]] = True
            self.failure[through[~wrong]] = 0
            self.failure[through[wrong]] = _WRONG  # the agent believes it succeeded: nothing to re-run
            failed = todo[~ok]
            todo = failed[~self.stopped[failed]]

    def steps(self, steps: tuple, base: tuple, idx: np.ndarray) -> np.ndarray:
        """Run a sequence of steps on tasks ``idx``; return which of them completed it (a mask)."""
        position, current = np.arange(len(idx)), idx
        for step in steps:
            if not current.size:
                break
            kind = step.kind
            if kind is LLM:
                ok = self.llm(step, base, current)
            elif kind is TOOL:
                ok = self.tool(step, base, current)
            elif kind is LOOP:
                ok = self.loop(step, base, current)
            else:
                ok = self.branch(step, base, current)
            position, current = position[ok], current[ok]
        done = np.zeros(len(idx), dtype=bool)
        done[position] = True
        return done

    def loop(self, step, base: tuple, idx: np.ndarray) -> np.ndarray:
        count = self.counts(step.count, base, idx)
        done = count <= 0
        position = np.flatnonzero(~done)
        iteration = 0
        while position.size:
            ok = self.steps(step.steps, (*base, iteration), idx[position])
            iteration += 1
            finished = ok & (count[position] == iteration)
            done[position[finished]] = True
            position = position[ok & (count[position] > iteration)]
        return done

    def branch(self, step, base: tuple, idx: np.ndarray) -> np.ndarray:
        u = self.uniform(step.key, base, idx)
        arm = np.minimum(np.searchsorted(np.asarray(step.cumulative), u, side="right"), len(step.arms) - 1)
        done = np.zeros(len(idx), dtype=bool)
        for index, steps in enumerate(step.arms):
            position = np.flatnonzero(arm == index)
            if position.size:
                done[position] = self.steps(steps, base, idx[position])
        return done

    def tool(self, step, base: tuple, idx: np.ndarray) -> np.ndarray:
        done = np.zeros(len(idx), dtype=bool)
        pending = np.arange(len(idx))
        for attempt in range(step.max_attempts):
            if not pending.size:
                break
            occurrence = (*base, attempt)
            pending = pending[~self.over_budget(idx[pending])]
            current = idx[pending]
            cur = self.at(current)
            if attempt:
                self.wait(current, step.retry_wait.wait_s(
                    attempt, self.uniform(step.retry_wait.key, occurrence, current)))
            self.wait(current, self.values(step.latency, occurrence, current))
            self.tool_calls[cur] += 1
            if step.cost_usd:
                self.cost[cur] += step.cost_usd
            if step.fail_probability:
                failed = self.uniform(step.fail_key, occurrence, current) < step.fail_probability
            else:
                failed = np.zeros(len(current), dtype=bool)
            good = ~failed
            self.transcript[current[good]] += self.values(step.result, occurrence, current[good])
            done[pending[good]] = True
            pending = pending[failed]
        self.failure[idx[pending]] = _TOOL_ERROR
        return done

    # -- llm calls -----------------------------------------------------------------------------------------
    def llm(self, step: LlmCall, base: tuple, idx: np.ndarray) -> np.ndarray:
        prompt = self.counts(step.prompt, base, idx)
        done = np.zeros(len(idx), dtype=bool)
        if step.route is None:
            done[:] = self.legs(step, step.legs, base, idx, prompt)
            return done
        option = self.choose(step, idx)
        for index, legs in enumerate(step.choices):
            position = np.flatnonzero(option == index)
            if position.size:
                done[position] = self.legs(step, legs, base, idx[position], prompt[position])
        return done

    def choose(self, step: LlmCall, idx: np.ndarray) -> np.ndarray:
        """The option of the step's split or router per task (-1 where a budget cap stopped the router)."""
        route = step.route
        chosen = self.choices.setdefault(route.role, np.full(self.n, -1, dtype=_INT))
        new = idx[chosen[idx] < 0]
        if new.size:
            occurrence = (self.run_index,)
            router = route.router
            if router is not None:
                if router.model is not None:
                    new = new[~self.over_budget(new, new_call=True)]
                self.side_call(new, router.model, router.prompt, router.output, router.cost_usd, occurrence, 0)
                edges = np.asarray(route.cumulative)[self.difficulty_class[new]]
            else:
                edges = np.broadcast_to(np.asarray(route.cumulative[0]), (len(new), len(route.cumulative[0])))
            u = self.uniform(route.key, occurrence, new)
            option = np.minimum(np.sum(edges <= u[:, None], axis=1), len(route.labels) - 1)
            chosen[new] = option
            self.route[new] = option
        return chosen[idx]

    def side_call(self, idx, model, prompt_draw: Draw, output_draw: Draw, flat_usd: float, occurrence: tuple,
                  answer_tokens) -> None:
        """A router's or validator's call, as :meth:`sim.engine.des._Runner.side_call`."""
        if not len(idx):
            return
        sel = self.at(idx)
        cost = np.full(len(idx), flat_usd)
        if model is not None:
            prompt = self.values(prompt_draw, occurrence, idx)
            output = self.counts(output_draw, occurrence, idx)
            reasoning = 0 if model.reasoning is None else self.values(model.reasoning, occurrence, idx)
            input_tokens = self.head[sel] + prompt + answer_tokens
            cost = cost + self.attempt_cost(model, input_tokens, output + reasoning)
            self.wait(idx, self.call_time(model, idx, occurrence, output + reasoning))
            self.calls[sel] += 1
            self.attempts[sel] += 1
            self.billed[sel] += 1
            self.input_tokens[sel] += input_tokens
            self.output_tokens[sel] += output
            self.reasoning[sel] += reasoning
        self.cost[sel] += cost
        self.routing_usd[sel] += cost

    def legs(self, step: LlmCall, legs: tuple, base: tuple, idx: np.ndarray, prompt: np.ndarray) -> np.ndarray:
        """One call of ``step`` on tasks ``idx`` through its legs; which tasks' calls got an answer kept.
        Legs only ever move forward, so taking them in order runs every task's legs in its own order."""
        done = np.zeros(len(idx), dtype=bool)
        at = np.zeros(len(idx), dtype=_INT)  # each task's current leg; -1: the call has failed
        for index, leg in enumerate(legs):
            position = np.flatnonzero(at == index)
            if not position.size:
                continue
            stop = self.over_budget(idx[position], new_call=True)
            at[position[stop]] = -1
            position = position[~stop]
            if not position.size:
                continue
            current = idx[position]
            cur = self.at(current)
            model = leg.model
            self.calls[cur] += 1
            self.model_calls[model.ref] = self.model_calls.get(model.ref, 0) + len(current)
            if index:
                self.escalations[cur] += 1
            input_tokens = self.head[cur] + prompt[position]
            if step.history != "none":
                input_tokens = input_tokens + self.transcript[cur]
            window = model.context_window_tokens
            fits = np.ones(len(current), dtype=bool)
            if window is not None:
                over = input_tokens > window
                if step.history == "window":
                    shortened = over & (self.head[cur] + prompt[position] <= window)
                    input_tokens = np.where(shortened, window, input_tokens)
                    over = over & ~shortened
                fits = ~over
                self.attempts[current[over]] += 1
                self.failure[current[over]] = _CONTEXT
            kept = self.attempts_of(step, index, leg, base, current[fits], prompt[position[fits]], input_tokens[fits])
            done[position[fits][kept]] = True
            failed = np.concatenate([position[~fits], position[fits][~kept]])
            at[failed] = -1 if leg.on_failure is None else leg.on_failure
            at[position[fits][kept]] = -1
        return done

    def attempts_of(self, step: LlmCall, index: int, leg, base: tuple, idx: np.ndarray, prompt: np.ndarray,
                    input_tokens: np.ndarray) -> np.ndarray:
        """A leg's attempts on tasks ``idx``; which of them had an answer kept."""
        model, validator = leg.model, leg.validator
        kept = np.zeros(len(idx), dtype=bool)
        feedback = np.zeros(len(idx), dtype=_INT)
        pending = np.arange(len(idx))
        for attempt in range(step.max_attempts):
            if not pending.size:
                break
            occurrence = (*base, index, attempt)
            current = idx[pending]
            if attempt:
                self.wait(current, step.retry_wait.wait_s(
                    attempt, self.uniform(step.retry_wait.key, occurrence, current)))
                pending = pending[~self.over_budget(current)]
                current = idx[pending]
            cur = self.at(current)
            self.attempts[cur] += 1
            output = self.counts(step.output, occurrence, current)
            reasoning = 0 if model.reasoning is None else self.values(model.reasoning, occurrence, current)
            sent = input_tokens[pending] + feedback[pending]
            billed_output = output if model.reasoning is None else output + reasoning
            cost = self.attempt_cost(model, sent, billed_output)
            if self.cache is not None:
                read, written = self.caches.use(model.ref, current, sent, step.history == "full", self.clock[cur])
                used = (read != 0) | (written != 0)
                if used.any():
                    cached_cost = model.rates.attempt_cost_usd_array(
                        sent, np.broadcast_to(billed_output, sent.shape), read,
                        0 if self.cache.write_1h else written, model.batch_delay is not None,
                        written if self.cache.write_1h else 0)
                    no_cache_cost = np.broadcast_to(cost, sent.shape)
                    cost = np.where(used, cached_cost, no_cache_cost)
                    here = current[used]
                    self.cache_read[here] += read[used]
                    self.cache_write[here] += written[used]
                    self.cache_hits[here] += read[used] > 0
                    self.cache_saving[here] += no_cache_cost[used] - cached_cost[used]
            if model.batch_delay is not None:
                self.wait(current, self.values(model.batch_delay, occurrence, current))
            else:
                self.wait(current, self.call_time(model, current, occurrence, billed_output))
            self.billed[cur] += 1
            self.input_tokens[cur] += sent
            self.output_tokens[cur] += output
            if model.reasoning is not None:
                self.reasoning[cur] += reasoning
            self.cost[cur] += cost
            p = self.fail_probability(model, current)
            if np.ndim(p) == 0 and p == 0:
                invalid = np.zeros(len(current), dtype=bool)
            else:
                invalid = (np.asarray(p) != 0) & (self.uniform(step.fail_key, (*base, attempt), current) < p)
                invalid = np.broadcast_to(invalid, current.shape)
            if validator is None:
                accepted = ~invalid
            else:
                u = self.uniform(validator.key, occurrence, current)
                accepted = np.where(invalid, u < validator.false_accept, u >= validator.false_reject)
                self.validations[cur] += 1
                self.side_call(current, validator.model, validator.prompt, validator.output, validator.cost_usd,
                               occurrence, output)
                slipped = current[accepted & invalid]
                self.accepted_invalid[slipped] += 1
                self.wrong[slipped] = True
                self.rejected_valid[current[~accepted & ~invalid]] += 1
            rejected = ~accepted
            if rejected.any():
                self.failure[current[rejected]] = _INVALID
            if step.feedback is not None and rejected.any():
                feedback[pending[rejected]] += (output[rejected]
                                                + self.values(step.feedback, occurrence, current[rejected]))
            if rejected.any():
                self.transcript[current[accepted]] += prompt[pending[accepted]] + output[accepted]
                kept[pending[accepted]] = True
                pending = pending[rejected]
            else:  # every attempt's answer kept: no masks needed
                self.transcript[cur] += prompt[pending] + output
                kept[pending] = True
                break
        return kept

    # -- the result ----------------------------------------------------------------------------------------
    def columns(self) -> TaskColumns:
        n = self.n
        nothing, none = zeros(n, np.float64), zeros(n, _INT)  # fields a run without traffic cannot fill
        values = {
            "cost_usd": self.cost, "success": self.success, "calls": self.calls, "attempts": self.attempts,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "tool_calls": self.tool_calls,
            "runs": self.runs, "reasoning_tokens": self.reasoning,
            **({"cache_read_tokens": self.cache_read, "cache_write_tokens": self.cache_write,
                "cache_hits": self.cache_hits, "cache_saving_usd": self.cache_saving} if self.cache is not None else
               {"cache_read_tokens": none, "cache_write_tokens": none, "cache_hits": none,
                "cache_saving_usd": nothing}),
            "billed_attempts": self.billed, "throttled": none,
            "throttle_wait_s": nothing, "provider_errors": none, "failure": self.failure,
            "latency_s": self.clock - 0.0, "arrival_s": nothing, "replication": none, "gpu_s": nothing,
            "escalations": self.escalations, "validations": self.validations,
            "accepted_invalid": self.accepted_invalid, "rejected_valid": self.rejected_valid,
            "routing_usd": self.routing_usd, "route": self.route, "difficulty": self.difficulty,
        }
        missing = set(TASK_FIELDS) - set(values)
        if missing:  # a field added to the record must be filled here too
            raise AssertionError(f"the vectorised engine does not fill {sorted(missing)}")
        return TaskColumns.from_lists(values, 0.0, self.model_calls)

