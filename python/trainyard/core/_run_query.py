"""Run listings and metric series over REST, for Experiment and Run (a lower module: it
imports only trainyard._http, so experiment.py and run.py both use it without a circle).

Listings are paged on the server with an opaque cursor (docs/REST.md "Run queries"): the
generators here fetch one page when the previous one is used up, so the first item costs one
page, not the whole experiment.
"""

from trainyard._http import quote_path

FIRST_PAGE = 100   # the first item arrives after one small page
NEXT_PAGES = 500   # later pages are larger: fewer round trips for a full iteration


def iter_run_dtos(client, path, params, page_size=None):
    """Yields run objects from ``path`` (an experiment's ``/runs`` or a run's ``/children``)
    page by page. ``params`` holds the filters (None values are left out)."""
    params = dict(params)
    size = page_size or FIRST_PAGE
    while True:
        params["page_size"] = size
        answer = client.get(path, params=params)
        for dto in answer.get("runs", []):
            yield dto
        cursor = answer.get("next_cursor")
        if not cursor:
            return
        params["cursor"] = cursor
        size = page_size or NEXT_PAGES


def query_params(filter=None, order_by=None):
    """The server-side query keywords: ``filter`` (e.g. ``"metrics.acc > 0.9 and
    params.lr = '0.1'"``) and ``order_by`` (a string, or a list joined with commas)."""
    if order_by is not None and not isinstance(order_by, str):
        order_by = ", ".join(order_by)
    return {"filter": filter or None, "order_by": order_by or None}


def series_params(start_step=None, end_step=None, max_points=None, mode=None):
    """``mode``: how ``max_points`` picks points, ``"minmax"`` (default: the minimum and maximum
    of each bucket) or ``"lttb"`` (Largest-Triangle-Three-Buckets, extremes kept)."""
    return {"start_step": start_step, "end_step": end_step, "max_points": max_points,
            "mode": mode}


def _series_dict(answer):
    out = {}
    for s in answer.get("series", []):
        points = s.get("points", [])
        out[s["name"]] = {"steps": [p[0] for p in points], "values": [p[1] for p in points],
                          "times": [p[2] for p in points], "count": s.get("count", 0),
                          "downsampled": bool(s.get("downsampled"))}
    return out


def read_series(client, run_id, names=None, start_step=None, end_step=None, max_points=None,
                mode=None):
    """{name: {"steps": [...], "values": [...], "times": [...], "count": N,
    "downsampled": bool}} for the run's scalar series (all of them when ``names`` is None)."""
    if isinstance(names, str):
        names = [names]
    params = series_params(start_step, end_step, max_points, mode)
    params["name"] = list(names) if names else None
    answer = client.get("/api/v1/runs/{}/series".format(quote_path(run_id)), params=params)
    return _series_dict(answer)


def read_series_of_runs(client, run_ids, names=None, start_step=None, end_step=None,
                        max_points=None, mode=None):
    """{run_id: {name: {...as read_series...}}} for several runs in one request (at most 100)."""
    if isinstance(names, str):
        names = [names]
    params = series_params(start_step, end_step, max_points, mode)
    params["name"] = list(names) if names else None
    params["run"] = list(run_ids)
    answer = client.get("/api/v1/series", params=params)
    return {r["run_id"]: _series_dict(r) for r in answer.get("runs", [])}
