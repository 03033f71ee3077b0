# -*- test-case-name: tests.metrics.test_service -*-
"""
Cocaine 0.12's C{metrics} service over the node's one registry:
C{fetch([type, [query]])} answers one value, a map of the metrics that
match C{query}, rendered C{"plain"} (the default: C{{dotted name: value}})
or C{"json"} (a tree split on the dots), as cocaine-plugins' C{metrics/}
does.

The registry holds Prometheus families; L{metrics12} gives them the
dotted names of 0.12's node where one exists (docs/metrics.md has the
table). A histogram becomes a 0.12 timer: C{count}, C{p50} to C{p99} and
C{mean} in milliseconds (the percentiles estimated from the buckets the
way Prometheus' C{histogram_quantile} does; 0.12's decaying rates are not
kept). Families without a 0.12 name keep theirs, without the C{cocaine_}
prefix, their label values appended (C{http_requests_total.200}).

The query is 0.12's filter AST, maps of one key to the list of its
arguments: filters C{and}, C{or} (any number of filters), C{eq}, C{ge},
C{contains} (two extractors); extractors C{name}, C{type} (no arguments),
C{const} (one value) and C{tag} (an extractor giving the tag's name):

    {"and": [{"eq": [{"tag": [{"const": ["app"]}]}, {"const": ["echo"]}]},
             {"contains": [{"name": []}, {"const": ["requests"]}]}]}

0.12's C{ge} matches everything (its comparison was never written); ours
compares (numbers with numbers, text with text).
"""

import math

from zope.interface import implementer

from cocaine.errors import InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.protocol.services import METRICS, METRICS_VERSION

#: Timer quantiles, as 0.12 names them.
QUANTILES = (("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p95", 0.95),
             ("p98", 0.98), ("p99", 0.99))


class Metric:
    """
    One metric as 0.12 sees it.

    @ivar name: its dotted name.
    @ivar type: C{"counter"}, C{"gauge"} or C{"timer"}.
    @ivar tags: C{{name: text}}, its labels and C{type}.
    @ivar value: a number, or for a timer C{{field: number}}.
    """

    __slots__ = ("name", "type", "tags", "value")

    def __init__(self, name, type, tags, value):
        self.name = name
        self.type = type
        self.tags = dict(tags, type=type)
        self.value = value

    def __repr__(self):
        return "Metric({!r}, {!r}, {!r})".format(self.name, self.type,
                                                 self.value)


def _number(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def quantile(q, buckets):
    """
    Estimate quantile C{q} from cumulative C{[(le, count), ...]} (the last
    C{le} infinite), interpolating within the bucket it falls in.

    @return: the estimate in the buckets' unit, or 0 with no observations.
    """
    total = buckets[-1][1] if buckets else 0
    if not total:
        return 0.0
    rank = q * total
    lower, below = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _timer(samples):
    buckets, total, count = [], 0.0, 0
    for sample in samples:
        if sample.name.endswith("_bucket"):
            buckets.append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_sum"):
            total = sample.value
        elif sample.name.endswith("_count"):
            count = sample.value
    buckets.sort()
    value = {"count": _number(count)}
    for field, q in QUANTILES:
        value[field] = quantile(q, buckets) * 1000.0
    value["mean"] = total / count * 1000.0 if count else 0.0
    return value


def _byApp(family):
    """
    @return: C{{app: [sample, ...]}} of a family labelled by app.
    """
    apps = {}
    for sample in family.samples:
        apps.setdefault(sample.labels.get("app", ""), []).append(sample)
    return apps


def _requests(family):
    for app, samples in _byApp(family).items():
        accepted = 0
        for sample in samples:
            if not sample.name.endswith("_total"):
                continue
            outcome = sample.labels["outcome"]
            if outcome != "rejected":
                accepted += sample.value
            yield Metric("{}.requests.{}".format(app, outcome), "counter",
                         sample.labels, _number(sample.value))
        yield Metric(app + ".requests.accepted", "counter", {"app": app},
                     _number(accepted))


def _perApp(suffix, kind):
    def convert(family):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            app = sample.labels["app"]
            yield Metric(app + suffix, kind, sample.labels,
                         _number(sample.value))
    return convert


def _pool(family):
    for sample in family.samples:
        yield Metric("{}.pool.{}".format(sample.labels["app"],
                                         sample.labels["state"]),
                     "gauge", sample.labels, _number(sample.value))


def _perWorker(field):
    def convert(family):
        for sample in family.samples:
            yield Metric("{}.pool.slaves.{}.{}".format(
                sample.labels["app"], sample.labels["pid"], field), "gauge",
                sample.labels, _number(sample.value))
    return convert


def _timings(family):
    for app, samples in _byApp(family).items():
        yield Metric(app + ".timings", "timer", {"app": app},
                     _timer(samples))


def _node(name, kind):
    def convert(family):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                yield Metric("node." + name, kind, sample.labels,
                             _number(sample.value))
    return convert


#: Prometheus family name -> what it is in 0.12's names.
MAPPING = {
    "cocaine_app_requests": _requests,
    "cocaine_app_request_duration_seconds": _timings,
    "cocaine_app_queue_depth": _perApp(".queue.depth", "gauge"),
    "cocaine_app_workers": _pool,
    "cocaine_app_workers_spawned": _perApp(".slaves.spawned", "counter"),
    "cocaine_app_workers_crashed": _perApp(".slaves.crashed", "counter"),
    "cocaine_worker_rss_bytes": _perWorker("rss"),
    "cocaine_worker_cpu_percent": _perWorker("cpu"),
    "cocaine_node_cpu_seconds": _node("cpu_seconds", "counter"),
    "cocaine_node_rss_bytes": _node("rss_bytes", "gauge"),
    "cocaine_node_open_fds": _node("open_fds", "gauge"),
    "cocaine_node_connections": _node("connections", "gauge"),
}

_KINDS = {"counter": "counter", "gauge": "gauge", "histogram": "gauge",
          "summary": "gauge"}


def _generic(family):
    prefix = "cocaine_"
    for sample in family.samples:
        if "le" in sample.labels or sample.name.endswith("_created"):
            continue
        name = sample.name
        if name.startswith(prefix):
            name = name[len(prefix):]
        parts = [name] + [str(value).replace(".", "_")
                          for value in sample.labels.values()]
        yield Metric(".".join(parts), _KINDS.get(family.type, "gauge"),
                     sample.labels, _number(sample.value))


def metrics12(registry):
    """
    @param registry: a C{prometheus_client} registry.
    @return: its figures now, as L{Metric}s with 0.12's names.
    """
    result = []
    for family in registry.collect():
        result.extend(MAPPING.get(family.name, _generic)(family))
    return result


# -- the query ----------------------------------------------------------------

def _decode(value):
    """
    A query as a client's msgpack decodes: every string-like value bytes.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in value.items()}
    return value


def _astNode(tree, what):
    if not isinstance(tree, dict):
        raise InvalidArgument("AST {} node must be an object".format(what))
    if len(tree) != 1:
        raise InvalidArgument("AST {} node must have exactly one name"
                              .format(what))
    ((name, args),) = tree.items()
    if not isinstance(args, list):
        raise InvalidArgument("AST {} node {!r}: its arguments must be an "
                              "array".format(what, name))
    return name, args


def _arity(kind, name, args, count):
    if len(args) != count:
        raise InvalidArgument("expected {} arguments for {} '{}', found {}"
                              .format(count, kind, name, len(args)))


def _extractor(tree):
    name, args = _astNode(tree, "extractor")
    if name == "const":
        _arity("extractor", name, args, 1)
        value = args[0]
        return lambda metric: value
    if name == "name":
        _arity("extractor", name, args, 0)
        return lambda metric: metric.name
    if name == "type":
        _arity("extractor", name, args, 0)
        return lambda metric: metric.type
    if name == "tag":
        _arity("extractor", name, args, 1)
        which = _extractor(args[0])
        return lambda metric: metric.tags.get(str(which(metric)), "")
    raise InvalidArgument("unknown extractor '{}'".format(name))


def _greaterOrEqual(a, b):
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a >= b
    if isinstance(a, str) and isinstance(b, str):
        return a >= b
    return False


def _contains(a, b):
    return isinstance(a, str) and isinstance(b, str) and b in a


_PAIRS = {"eq": lambda a, b: a == b, "ge": _greaterOrEqual,
          "contains": _contains}


def makeFilter(tree):
    """
    @param tree: a query AST (decoded), or L{None} for everything.
    @return: a predicate over L{Metric}s.
    @raise InvalidArgument: the AST is not one 0.12 accepts.
    """
    if tree is None:
        return lambda metric: True
    name, args = _astNode(tree, "filter")
    if name in ("and", "or"):
        parts = [makeFilter(arg) for arg in args]
        combine = all if name == "and" else any
        return lambda metric: combine(part(metric) for part in parts)
    if name in _PAIRS:
        _arity("filter", name, args, 2)
        left, right = _extractor(args[0]), _extractor(args[1])
        test = _PAIRS[name]
        return lambda metric: test(left(metric), right(metric))
    raise InvalidArgument("unknown filter '{}'".format(name))


# -- rendering ----------------------------------------------------------------

def plain(metrics):
    """
    C{{name: value}}; a timer gives C{name.field} for each of its fields.
    """
    out = {}
    for metric in metrics:
        if metric.type == "timer":
            for field, value in metric.value.items():
                out[metric.name + "." + field] = value
        else:
            out[metric.name] = metric.value
    return out


def _branch(out, parts):
    for part in parts:
        child = out.get(part)
        if not isinstance(child, dict):
            child = out[part] = {}
        out = child
    return out


def tree(metrics):
    """
    The names split on dots into nested maps; a timer is a map of its
    fields. A value in the way of a branch gives way to it, as in 0.12.
    """
    out = {}
    for metric in metrics:
        parts = [part for part in metric.name.split(".") if part]
        if not parts:
            continue
        if metric.type == "timer":
            _branch(out, parts).update(metric.value)
        else:
            _branch(out, parts[:-1])[parts[-1]] = metric.value
    return out


_RENDER = {"plain": plain, "json": tree}


@implementer(IRPCService)
class MetricsService:
    """
    Serves C{fetch} from a L{cocaine.metrics.registry.Metrics}.
    """

    protocol = METRICS
    version = METRICS_VERSION

    def __init__(self, metrics):
        self._metrics = metrics

    def fetch(self, type=None, query=None):
        render = _RENDER.get(type or "plain")
        if render is None:
            raise InvalidArgument("unknown output type {!r} (plain or json)"
                                  .format(type))
        match = makeFilter(_decode(query))
        return (render([metric for metric in
                        metrics12(self._metrics.registry) if match(metric)]),)
