"""Max-min fair sharing of GPUs across tenants (users or groups), with a preemptive variant.

Each tenant with demand (the GPUs of its running plus queued jobs) gets a fair share of
the cluster's GPUs by water-filling: tenants asking for less than an equal split get
what they ask for and the rest is split again among the others. GPUs are the only
resource modelled, so dominant-resource fairness (DRF, Ghodsi et al., NSDI '11) reduces
to exactly this max-min division; tenant weights are not modelled (every tenant counts
once). Shares are real numbers (8 GPUs over 3 tenants is 2.67 each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from heapq import heappop, heappush
from typing import Any, ClassVar, Literal, NamedTuple

from simulator.policies.base import ClusterView, Decision, JobState, Preempt, RunContext, SimJob, Start
from simulator.policies.membership import Membership

TenantBy = Literal["user", "group"]
SINGLE_TENANT = "(all)"
NO_TENANT = "(none)"


class Tenancy(NamedTuple):
    """Which job field names a job's tenant (None: one tenant for everyone) and why, for a note."""

    field: TenantBy | None
    note: str | None


def resolve_tenancy(by: TenantBy, has_users: bool, has_groups: bool) -> Tenancy:
    """Tenants by `by`, falling back user -> group -> a single tenant when the trace lacks the field.

    Asking for groups on a trace without groups also falls back to users: a trace that
    names neither is shared by one tenant, which makes fair share plain FIFO.
    """
    order: tuple[TenantBy, TenantBy] = ("user", "group") if by == "user" else ("group", "user")
    present = {"user": has_users, "group": has_groups}
    for field in order:
        if present[field]:
            if field == by:
                return Tenancy(field, None)
            return Tenancy(field, f"fair share by {by}: the trace names no {by}s, so tenants are {field}s")
    return Tenancy(None, f"fair share by {by}: the trace names no users or groups, so all jobs share one tenant")


def tenant_names(values: Sequence[str | None] | None, num_jobs: int) -> list[str]:
    """Each job's tenant: its user or group, `NO_TENANT` when that job lacks one; one tenant if `values` is None."""
    if values is None:
        return [SINGLE_TENANT] * num_jobs
    return [NO_TENANT if v is None else str(v) for v in values]


def max_min_shares(capacity_gpus: float, demands: Mapping[str, int]) -> dict[str, float]:
    """Water-fill `capacity_gpus` over tenants by demand; tenants with zero demand get 0.

    O(T log T). The shares sum to min(capacity, total demand) and no tenant gets more
    than it asks for.
    """
    shares = {tenant: 0.0 for tenant in demands}
    active = sorted((d, t) for t, d in demands.items() if d > 0)
    remaining = float(capacity_gpus)
    for i, (demand, tenant) in enumerate(active):
        level = remaining / (len(active) - i)
        if demand <= level:
            shares[tenant] = float(demand)
            remaining -= demand
            continue
        for _, rest in active[i:]:
            shares[rest] = level
        break
    return shares


def start_order(
    shares: Mapping[str, float],
    allocated_gpus: Mapping[str, int],
    head_keys: Mapping[str, tuple[float, str]],
) -> list[str]:
    """Tenants with a waiting job, furthest below their fair share (in GPUs) first.

    `head_keys` maps each tenant with a waiting job to its oldest waiting job's
    `(submit_s, job_id)`; equal deficits go to the tenant whose head was submitted first,
    so the order is deterministic and FIFO across equally served tenants.
    """
    keyed = sorted((allocated_gpus.get(t, 0) - shares.get(t, 0.0), head, t) for t, head in head_keys.items())
    return [t for _, _, t in keyed]


class RunningSlice(NamedTuple):
    """One running job as the preemption rule sees it."""

    start_s: float
    job_id: str
    num_gpus: int


def choose_victims(
    shares: Mapping[str, float],
    allocated_gpus: Mapping[str, int],
    newest_first: Callable[[str], Iterable[RunningSlice]],
    needy: str,
    need_gpus: int,
    num_free_gpus: int,
    now_s: float,
) -> list[str]:
    """Jobs to preempt so that tenant `needy`'s head job (`need_gpus` GPUs) can start; [] if none.

    Only when `needy` is below its share. Victims are taken one at a time from the tenant
    most above its share (ties: the tenant whose candidate started last), each time that
    tenant's most recently started job, and only if the tenant stays at or above its share
    afterwards: the anti-thrash rule, so a victim's tenant never becomes needy because of
    it. Jobs started at `now_s` are never victims (the engine forbids zero-length
    segments). If the eligible victims cannot free enough GPUs, nothing is preempted
    (preempting would cost work and help no one). `newest_first(t)` yields tenant t's
    running jobs, most recently started first; it is called only for tenants at least
    one GPU above their share and consumed lazily.
    """
    if allocated_gpus.get(needy, 0) >= shares.get(needy, 0.0):
        return []
    alloc = {t: a for t, a in allocated_gpus.items() if t != needy and a - shares.get(t, 0.0) >= 1.0}
    # Each tenant can give at most its excess over its share: a cheap bound that settles
    # most hopeless cases without walking any running job.
    if num_free_gpus + sum(a - shares.get(t, 0.0) for t, a in alloc.items()) < need_gpus:
        return []
    candidates = {t: (j for j in newest_first(t) if j.start_s < now_s) for t in alloc}
    nxt = {t: next(it, None) for t, it in candidates.items()}
    victims: list[str] = []
    free = num_free_gpus
    while free < need_gpus:
        best: tuple[float, float, str] | None = None
        tenant = ""
        for t, job in nxt.items():
            if job is None:
                continue
            excess = alloc[t] - shares.get(t, 0.0)
            if excess - job.num_gpus >= 0.0 and (best is None or (excess, job.start_s, job.job_id) > best):
                best, tenant = (excess, job.start_s, job.job_id), t
        if best is None:
            return []
        job = nxt[tenant]
        assert job is not None
        alloc[tenant] -= job.num_gpus
        free += job.num_gpus
        victims.append(job.job_id)
        nxt[tenant] = next(candidates[tenant], None)
    return victims


class _Tenants:
    """Per-tenant queues and GPU counts, updated from `Membership` changes and the policy's decisions.

    A tenant's queue is a heap of workload rows: rows are in `(submit_s, job_id)` order,
    so its top is the tenant's oldest waiting job (FIFO within a tenant, requeued jobs
    back in their submission place).
    """

    def __init__(self, tenant_of: Sequence[str], jobs: Sequence[SimJob]) -> None:
        self.tenant_of = tenant_of
        self.jobs = jobs
        self.queues: dict[str, list[int]] = {}  # only tenants with a waiting job
        self.allocated: dict[str, int] = {}
        self.demand: dict[str, int] = {}  # only tenants with demand
        self.running: dict[str, dict[int, float]] = {}  # tenant -> row -> start, in start order
        self.busy_gpus = 0

    def enqueue(self, row: int, *, new_demand: bool) -> None:
        t = self.tenant_of[row]
        heappush(self.queues.setdefault(t, []), row)
        if new_demand:
            self.demand[t] = self.demand.get(t, 0) + self.jobs[row].num_gpus

    def stop(self, row: int, *, finished: bool) -> None:
        t = self.tenant_of[row]
        g = self.jobs[row].num_gpus
        del self.running[t][row]
        self.allocated[t] -= g
        self.busy_gpus -= g
        if finished:
            left = self.demand[t] - g
            if left:
                self.demand[t] = left
            else:
                del self.demand[t]

    def start(self, row: int, now_s: float) -> None:
        t = self.tenant_of[row]
        queue = self.queues[t]
        assert queue[0] == row, "only a tenant's oldest waiting job starts"
        heappop(queue)
        if not queue:
            del self.queues[t]
        g = self.jobs[row].num_gpus
        self.running.setdefault(t, {})[row] = now_s
        self.allocated[t] = self.allocated.get(t, 0) + g
        self.busy_gpus += g

    def newest_first(self, tenant: str) -> Iterator[RunningSlice]:
        """The tenant's running jobs, most recently started first (lazily)."""
        jobs = self.jobs
        for r, start in reversed(self.running.get(tenant, {}).items()):
            yield RunningSlice(start, jobs[r].job_id, jobs[r].num_gpus)


class FairSharePolicy:
    """Max-min fair share of GPUs across tenants, work-conserving and non-preemptive.

    When GPUs are free, the tenant furthest below its fair share (in GPUs; ties to the
    tenant whose oldest waiting job came first) starts its oldest waiting job, if the
    placement finds GPUs for it; otherwise the next tenant is tried, so free GPUs never
    idle while some waiting job fits. The price of work conservation: a tenant whose
    oldest job is large can be overtaken by smaller jobs of others (no reservation).

    `by` ("user", default, or "group") names the tenants. A trace without that field
    falls back to the other one, and one without either is a single tenant (fair share
    is then FIFO); `notes` says so. Jobs without a user (or group) in a trace that has
    them form one tenant, "(none)".

    Cost per decision: O(T log T) for T tenants with demand (water-filling and the tenant
    order) plus amortised O(1) bookkeeping (`Membership`), never O(queue). The engine's
    queue order (`rank`) is unused: submission order.
    """

    key: ClassVar[str] = "fair-share"
    preemptive: ClassVar[bool] = False

    def __init__(self, by: str = "user") -> None:
        if by not in ("user", "group"):
            raise ValueError(f"by must be 'user' or 'group', got {by!r}")
        self.by: TenantBy = "user" if by == "user" else "group"
        self.notes: tuple[str, ...] = ()

    def bind(self, ctx: RunContext) -> None:
        wl = ctx.workload
        tenancy = resolve_tenancy(self.by, bool(wl.user.categories), bool(wl.group.categories))
        self.notes = (tenancy.note,) if tenancy.note else ()
        values = None
        if tenancy.field == "user":
            values = wl.user.values()
        elif tenancy.field == "group":
            values = wl.group.values()
        self._jobs = ctx.jobs
        self._members = Membership(ctx.jobs)
        self._tenants = _Tenants(tenant_names(values, len(ctx.jobs)), ctx.jobs)

    def rank(self, job: JobState) -> tuple[Any, ...]:
        return ()

    def next_wakeup_s(self, view: ClusterView) -> float | None:
        return None

    def _sync(self, view: ClusterView) -> None:
        changes = self._members.sync(view)
        tenants = self._tenants
        queued = self._members.queued
        requeued: set[int] = set()
        for row in changes.stopped:
            finished = row not in queued  # else a node failure requeued it
            if not finished:
                requeued.add(row)
            tenants.stop(row, finished=finished)
        for st in changes.entered:
            row = st.job.row
            tenants.enqueue(row, new_demand=row not in requeued)

    def _start(self, row: int, gpu_ids: tuple[str, ...], now_s: float) -> Start:
        self._members.started(row, now_s)
        self._tenants.start(row, now_s)
        return Start(self._jobs[row].job_id, gpu_ids)

    def _order(self, view: ClusterView) -> tuple[dict[str, float], list[str]]:
        tenants = self._tenants
        capacity = tenants.busy_gpus + view.num_free_gpus
        shares = max_min_shares(capacity, tenants.demand)
        jobs = self._jobs
        heads = {t: (jobs[q[0]].submit_s, jobs[q[0]].job_id) for t, q in tenants.queues.items()}
        return shares, start_order(shares, tenants.allocated, heads)

    def _start_first_fit(self, view: ClusterView, order: Iterable[str]) -> Sequence[Decision]:
        free = view.num_free_gpus
        if not free:
            return ()
        queues, jobs = self._tenants.queues, self._jobs
        for t in order:
            row = queues[t][0]
            job = jobs[row]
            if job.num_gpus > free:
                continue
            gpu_ids = view.place(job)
            if gpu_ids is not None:
                return (self._start(row, gpu_ids, view.now_s),)
        return ()

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        self._sync(view)
        if not self._tenants.queues:
            return ()
        _, order = self._order(view)
        return self._start_first_fit(view, order)


class FairSharePreemptivePolicy(FairSharePolicy):
    """`fair-share`, and a tenant below its share whose oldest job does not fit preempts for it.

    The tenant furthest below its share goes first: its oldest job starts if it fits;
    otherwise running jobs are preempted for it by `choose_victims` (the most recently
    started job of the tenant most above its share, repeatedly, only while that tenant
    stays at or above its share, never a job started this instant), if the placement then
    finds GPUs for it; victims whose GPUs the placement does not use are spared. If that
    fails the other tenants are served as in `fair-share`. This generalises "preempt when
    no GPU is free" to "when the free GPUs do not fit the needy tenant's job". Preempted
    jobs lose work per the run's checkpoint model and go back to the front of their
    tenant's queue (submission order).
    """

    key: ClassVar[str] = "fair-share-preemptive"
    preemptive: ClassVar[bool] = True

    def decide(self, view: ClusterView) -> Sequence[Decision]:
        self._sync(view)
        tenants = self._tenants
        if not tenants.queues:
            return ()
        shares, order = self._order(view)
        needy = order[0]
        if tenants.allocated.get(needy, 0) < shares[needy]:
            row = tenants.queues[needy][0]
            job = self._jobs[row]
            now = view.now_s
            gpu_ids = view.place(job) if job.num_gpus <= view.num_free_gpus else None
            if gpu_ids is not None:
                return (self._start(row, gpu_ids, now),)
            victims = choose_victims(
                shares, tenants.allocated, tenants.newest_first, needy, job.num_gpus, view.num_free_gpus, now
            )
            if victims:
                decisions = self._preempt_for(view, row, victims)
                if decisions:
                    return decisions
            order = order[1:]
        return self._start_first_fit(view, order)

    def _preempt_for(self, view: ClusterView, row: int, victims: list[str]) -> Sequence[Decision]:
        job = self._jobs[row]
        gpu_ids = view.place(job, victims)
        if gpu_ids is None:
            return ()
        used = set(gpu_ids)
        needed = []
        for job_id in victims:
            state = view.job(job_id)
            if state is not None and used.intersection(state.gpu_ids):
                needed.append(job_id)
        if len(needed) < len(victims):
            fewer = view.place(job, needed)
            if fewer is not None:
                victims, gpu_ids = needed, fewer
        tenants, members = self._tenants, self._members
        decisions: list[Decision] = []
        for job_id in victims:
            victim = self._row_of(view, job_id)
            members.preempted(victim)
            tenants.stop(victim, finished=False)
            tenants.enqueue(victim, new_demand=False)
            decisions.append(Preempt(job_id))
        decisions.append(self._start(row, gpu_ids, view.now_s))
        return decisions

    def _row_of(self, view: ClusterView, job_id: str) -> int:
        state = view.job(job_id)
        assert state is not None
        return state.job.row
