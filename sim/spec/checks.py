"""Checks that span more than one field of a workflow: step ids, roles and model references.

pydantic checks each value on its own; these checks need the whole file (is ``main`` a role? does the
catalog know ``openai:gpt-4.1-mni``?). Each problem is returned as (location, message), with the location
given as a path into the file's data, so :mod:`sim.spec.loader` can name its line and column.
"""

from __future__ import annotations

from collections.abc import Iterator

from sim.core.errors import CostsimError, UnknownModelError
from sim.core.pricing import Catalog
from sim.core.suggest import close_matches, did_you_mean, suggest
from sim.spec.permodel import model_keys
from sim.spec.routing import CascadeRoute, FallbackRoute, RouterRoute, SplitRoute, route_name
from sim.spec.timing import is_self_hosted, self_hosted_ref
from sim.spec.workflow import (
    BASELINE,
    RETRY_KEY,
    ConversationStep,
    Escalate,
    LlmStep,
    ToolStep,
    Workflow,
    dotted,
    iter_steps,
)

Problem = tuple[tuple, str]


def is_model_ref(name: str) -> bool:
    """``provider:model`` names a model; a bare name names a role."""
    return ":" in name


def cross_references(workflow: Workflow) -> list[Problem]:
    """Every cross-field problem in ``workflow``, in file order."""
    price_problems, good_prices = _price_entries(workflow)
    for name in workflow.self_hosted:  # self-hosted models cost GPU time, not tokens
        good_prices[self_hosted_ref(name)] = {"input": 0.0, "output": 0.0}
    catalog = Catalog(good_prices)
    # A model whose prices: entry is broken is unknown to the catalog too; its entry's problem says why.
    unpriced = tuple(f"unknown model {loc[1]!r}" for loc, _ in price_problems)
    uses = [(loc, text) for loc, text in [*_roles_and_models(workflow, catalog), *_time_keys(workflow, catalog),
                                          *_quality_keys(workflow, catalog), *_routing_keys(workflow, catalog)]
            if not (unpriced and text.startswith(unpriced))]
    return [*_step_ids(workflow), *uses, *price_problems]


def _quality_keys(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """Quality rows name known models and fit the difficulty; ``fail: quality`` needs a difficulty."""
    difficulty = workflow.difficulty
    classes = list(difficulty.classes) if difficulty is not None and difficulty.classes else None
    for ref, row in workflow.quality.items():
        yield from _default_or_model(ref, ("quality", ref), catalog)
        if difficulty is None:
            yield ("quality", ref), "quality needs difficulty: (the classes or score it is given against)"
        elif classes is None and isinstance(row, dict):
            typo = next(((key, hint) for key in row if (hint := suggest(key, ["skill", "slope"]))), None)
            if typo is not None:  # {skil: 0.5, slope: 0.1} reads as a row of classes: name the misspelt key
                yield ("quality", ref, typo[0]), (f"unknown key {typo[0]!r}{typo[1]} (difficulty is a score, so a "
                                                  "quality row is {skill: S, slope: W})")
            else:
                yield ("quality", ref), "difficulty is a score, so a quality row is {skill: S, slope: W}"
        elif classes is not None and not isinstance(row, dict):
            yield ("quality", ref), f"difficulty has classes, so a quality row gives P(valid) for {', '.join(classes)}"
        elif classes is not None and set(row) != set(classes):
            missing, extra = sorted(set(classes) - set(row)), sorted(set(row) - set(classes))
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(extra)}"] if extra else [])
            yield ("quality", ref), (f"a quality row gives every difficulty class ({', '.join(classes)}): "
                                     f"{'; '.join(parts)}")
    for step, path, _ in iter_steps(workflow.steps):
        if isinstance(step, LlmStep) and step.fail == "quality" and difficulty is None:
            yield (*path, "fail"), "fail: quality needs a difficulty: block (how hard each task is)"


def _time_keys(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """Model references of the time keys, and the shared features that need traffic."""
    for ref in workflow.profiles:
        yield from _default_or_model(ref, ("profiles", ref), catalog)
    for ref in workflow.limits:
        yield from _model(ref, ("limits", ref), catalog)
    for index, outage in enumerate(workflow.outages):
        yield from _model(outage.model, ("outages", index, "model"), catalog)
    if workflow.traffic is None:
        needs = "needs traffic: (tasks arriving over time) to know which calls meet; add e.g. " + (
            "traffic: {tasks_per_day: 1000, days: 30}")
        for key in ("limits", "outages", "self_hosted"):
            if getattr(workflow, key):
                yield (key,), f"{key} {needs}"


def _step_ids(workflow: Workflow) -> Iterator[Problem]:
    first_seen: dict[str, tuple] = {}
    for step, path, _ in iter_steps(workflow.steps):
        if step.id in first_seen:
            yield (*path, "id"), f"duplicate step id {step.id!r} (first used at {dotted(first_seen[step.id])})"
        else:
            first_seen[step.id] = path


def _unknown_role(name: str, roles: list[str]) -> str:
    return (
        f"unknown role {name!r}{suggest(name, roles)} (roles: {', '.join(roles)}; "
        "to name a model directly write provider:model)"
    )


def _model(ref: str, loc: tuple, catalog: Catalog) -> Iterator[Problem]:
    try:
        catalog.resolve(ref)
    except UnknownModelError as exc:
        if is_model_ref(ref):
            yield loc, exc.message
        else:
            yield loc, f"a model is written provider:model, got {ref!r}{did_you_mean(exc.suggestions, quote=False)}"
    except CostsimError as exc:
        yield loc, exc.message


def _default_or_model(ref: str, loc: tuple, catalog: Catalog) -> Iterator[Problem]:
    """A key of ``profiles`` or ``quality``: ``default``, or a ``provider:model``."""
    hint = "" if ref == "default" or is_model_ref(ref) else suggest(ref, ["default"])
    if hint:
        yield loc, f"unknown key {ref!r}{hint} (keys: default or provider:model)"
    elif ref != "default":
        yield from _model(ref, loc, catalog)


def _role_or_model(name: str, loc: tuple, roles: list[str], catalog: Catalog) -> Iterator[Problem]:
    if is_model_ref(name):
        yield from _model(name, loc, catalog)
    elif name not in roles:
        message = _unknown_role(name, roles)
        if "did you mean" not in message:  # perhaps a model written without its provider
            try:
                catalog.resolve(name)
            except UnknownModelError as exc:
                exact = [ref for ref in exc.suggestions if ref.lower().endswith(":" + name.lower())]
                if exact:
                    message = f"unknown role {name!r}; to call the model directly write {exact[0]} " + (
                        f"(roles: {', '.join(roles)})")
            except CostsimError:
                pass
        yield loc, message


def _model_or_route(ref: str, loc: tuple, workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """A role's value: a ``provider:model``, or ``route:NAME`` naming one of ``routing``."""
    name = route_name(ref)
    if name is None:
        yield from _model(ref, loc, catalog)
    elif name not in workflow.routing:
        yield loc, _unknown_name("route", "routes", name, list(workflow.routing), "routing", "route:")


def _unknown_name(kind: str, plural: str, name: str, names: list[str], block: str, prefix: str = "") -> str:
    """``unknown KIND 'NAME'; did you mean ...? (PLURAL: ...)``, naming the block when it is empty."""
    hint = did_you_mean(prefix + close for close in close_matches(name, names))
    known = f"{plural}: {', '.join(names)}" if names else f"the file has no {block}: block"
    return f"unknown {kind} {name!r}{hint} ({known})"


def _roles_and_models(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    roles = list(workflow.models)
    for role, ref in workflow.models.items():
        if role == RETRY_KEY:
            yield ("models", role), (f"{RETRY_KEY!r} cannot be a role: in an alternative it names a retry "
                                     "policy; call the role something else")
            continue
        yield from _model_or_route(ref, ("models", role), workflow, catalog)
    for name, overrides in workflow.alternatives.items():
        if name == BASELINE:
            yield ("alternatives", name), f"{BASELINE!r} is the name of the models: block; pick another name"
        for role, ref in overrides.items():
            if role == RETRY_KEY:
                yield from _policy_name(ref, ("alternatives", name, role), workflow)
                continue
            if role not in roles and not suggest(role, roles) and (hint := suggest(role, [RETRY_KEY])):
                yield ("alternatives", name, role), (f"unknown key {role!r}{hint} (keys: a role ({', '.join(roles)}) "
                                                     f"or {RETRY_KEY}, naming a retry policy)")
                continue
            if role not in roles:
                yield ("alternatives", name, role), _unknown_role(role, roles)
            yield from _model_or_route(ref, ("alternatives", name, role), workflow, catalog)
    conversations = 0
    for step, path, parents in iter_steps(workflow.steps):
        if isinstance(step, LlmStep):
            if route_name(step.llm) is not None:
                yield from _model_or_route(step.llm, (*path, "llm"), workflow, catalog)
            else:
                yield from _role_or_model(step.llm, (*path, "llm"), roles, catalog)
            if isinstance(step.fail, dict):
                for ref in step.fail:
                    if is_model_ref(ref):
                        yield from _model(ref, (*path, "fail", ref), catalog)
                    elif ref != "default":
                        hint = suggest(ref, ["default"])
                        if ref in roles:
                            hint = f"; fail is given per model, not per role: write {workflow.models[ref]}"
                        yield (*path, "fail", ref), f"unknown key {ref!r}{hint} (keys: default or provider:model)"
        for field in ("output", "repeat", "cost_usd"):
            value = step.__dict__.get(field)
            for ref in (model_keys(value) if field != "cost_usd" or isinstance(value, dict) else []):
                if ref == "default":
                    continue
                if is_model_ref(ref):
                    yield from _model(ref, (*path, field, ref), catalog)
                else:
                    yield (*path, field, ref), f"unknown key {ref!r} (keys: default or provider:model)"
        if isinstance(step, ToolStep) and step.called_by is not None:
            yield from _role_or_model(step.called_by, (*path, "called_by"), roles, catalog)
        if isinstance(step, ConversationStep):
            conversations += 1
            if parents or conversations > 1:
                yield path, ("a conversation step draws the whole task's conversation: only one, at the top "
                             "level (not in a loop or branch)")
            for role in step.roles():
                if role not in roles:
                    yield (*path, "conversation"), f"a shape's model call names {_unknown_role(role, roles)}"
        retry = step.__dict__.get("retry")
        if retry is not None and isinstance(step, ToolStep):
            for key, what in (("on_exhausted", "escalate"), ("fallback", "fall back"),
                              ("error_feedback", "get error feedback")):
                if getattr(retry, key) is not None and (key != "on_exhausted"
                                                        or isinstance(retry.on_exhausted, Escalate)):
                    hint = "; use fail_task" if key == "on_exhausted" else ""
                    where = (*path, "retry", key) + (("escalate",) if key == "on_exhausted" else ())
                    yield where, f"a tool step cannot {what} (only llm steps call models){hint}"
        elif retry is not None:
            yield from _policy_models(retry, (*path, "retry"), workflow, catalog)
    if workflow.calibration is not None:
        step_id = workflow.calibration.step
        if not any(isinstance(step, ConversationStep) and step.id == step_id for step in workflow.steps):
            yield ("calibration", "step"), f"{step_id!r} is not a conversation step of steps"
    for ref in workflow.tokenizer.ratios:
        yield from _model(ref, ("tokenizer", "ratios", ref), catalog)
    yield from _policy_models(workflow.retry, ("retry",), workflow, catalog)
    for name, policy in workflow.retry_policies.items():
        yield from _policy_models(policy, ("retry_policies", name), workflow, catalog)


def _policy_name(name: str, loc: tuple, workflow: Workflow) -> Iterator[Problem]:
    if name not in workflow.retry_policies:
        yield loc, _unknown_name("retry policy", "policies", name, list(workflow.retry_policies), "retry_policies")


def _policy_models(policy, loc: tuple, workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """The models a retry policy (or a step's override) escalates or falls back to."""
    if isinstance(policy.on_exhausted, Escalate):
        escalate = policy.on_exhausted.escalate
        for index, target in enumerate(policy.on_exhausted.targets()):
            where = (*loc, "on_exhausted", "escalate") + (() if isinstance(escalate, str) else (index,))
            yield from _member(target, where, workflow, catalog)
    if policy.fallback is not None:
        for index, target in enumerate(policy.fallbacks()):
            where = (*loc, "fallback") + (() if isinstance(policy.fallback, str) else (index,))
            yield from _member(target, where, workflow, catalog)


def _member(name: str, loc: tuple, workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """A model that a route or policy calls: a ``provider:model``, or a role that is a model (not a
    route) in every alternative."""
    if route_name(name) is not None:
        yield loc, f"{name!r} is a route; here a model is needed (a role or provider:model), routes do not nest"
        return
    roles = list(workflow.models)
    problems = list(_role_or_model(name, loc, roles, catalog))
    yield from problems
    if problems or is_model_ref(name):
        return
    for alternative, models in workflow.alternative_models().items():
        if route_name(models[name]) is not None:
            yield loc, (f"role {name!r} is {models[name]} in {alternative}; here a model is needed "
                        "(routes do not nest): name the model directly")
            return


def _routing_keys(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """Every route's models, and a router's confusion matrix against the difficulty classes."""
    difficulty = workflow.difficulty
    for name, route in workflow.routing.items():
        loc = ("routing", name)
        if isinstance(route, SplitRoute):
            for member in route.split:
                yield from _member(member, (*loc, "split", member), workflow, catalog)
        elif isinstance(route, CascadeRoute):
            for index, member in enumerate(route.cascade):
                yield from _member(member, (*loc, "cascade", index), workflow, catalog)
            if route.validator.llm is not None:
                yield from _side_model(route.validator.llm, (*loc, "validator", "llm"), workflow, catalog)
        elif isinstance(route, FallbackRoute):
            for index, member in enumerate(route.fallback):
                yield from _member(member, (*loc, "fallback", index), workflow, catalog)
        elif isinstance(route, RouterRoute):
            router = route.router
            for label, member in router.routes.items():
                yield from _member(member, (*loc, "router", "routes", label), workflow, catalog)
            if router.llm is not None:
                yield from _side_model(router.llm, (*loc, "router", "llm"), workflow, catalog)
            yield from _confusion(router, (*loc, "router", "confusion"), difficulty)


def _side_model(name: str, loc: tuple, workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """A router's or validator's model: any model but a self-hosted one (its queue is not modelled)."""
    problems = list(_member(name, loc, workflow, catalog))
    yield from problems
    if not problems:
        refs = {models.get(name, name) for models in workflow.alternative_models().values()}
        if any(is_self_hosted(ref) for ref in refs):
            yield loc, "a router or validator cannot run on a self-hosted model (its queue is not modelled)"


def _confusion(router, loc: tuple, difficulty) -> Iterator[Problem]:
    if difficulty is None or difficulty.classes is None:
        yield loc, ("a router's confusion matrix is given per difficulty class: add difficulty: {classes: "
                    "{easy: 0.7, hard: 0.3}} (a difficulty score has no classes)")
        return
    classes, labels = list(difficulty.classes), list(router.routes)
    for cls in router.confusion:
        if cls not in classes:
            yield (*loc, cls), (f"unknown difficulty class {cls!r}{suggest(cls, classes)} "
                                f"(classes: {', '.join(classes)})")
        else:
            for label in router.confusion[cls]:
                if label not in labels:
                    yield (*loc, cls, label), (f"unknown route {label!r}{suggest(label, labels)} "
                                               f"(routes: {', '.join(labels)})")
    missing = [cls for cls in classes if cls not in router.confusion]
    if missing:
        yield loc, f"the confusion matrix needs a row for every difficulty class: missing {', '.join(missing)}"


def _price_entries(workflow: Workflow) -> tuple[list[Problem], dict[str, dict[str, float]]]:
    """Check each ``prices`` entry on its own; return the problems and the entries that are fine."""
    problems, good = [], {}
    for ref, price in workflow.prices.items():
        fields = price.model_dump(exclude_none=True)
        if not is_model_ref(ref):
            problems.append((("prices", ref), f"a price is for a model written provider:model, got {ref!r}"))
            continue
        try:
            Catalog({ref: fields}).resolve(ref)
        except CostsimError as exc:
            problems.append((("prices", ref), exc.message.removeprefix("prices: ")))
        else:
            good[ref] = fields
    return problems, good
