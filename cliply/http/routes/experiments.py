"""/api/experiments: create, list, show (JSON and chart PNG), stop, apply, and the stopping rule run on an uploaded
CSV. Thin adapters over cliply/experiments/service.py, always in the API token's workspace (another workspace's
ids are 404s)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cliply.experiments import analyse as analysis
from cliply.experiments import service
from cliply.experiments.stats import StoppingRule
from cliply.http.context import api, body, container, token_workspace
from cliply.http.errors import ApiError
from cliply.http.schemas_experiments import (
    MAX_CSV_CHARS,
    MAX_IMAGE_B64,
    MAX_IMAGES,
    AnalyseBody,
    ApplyBody,
    ExperimentCreate,
    ExperimentsQuery,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A plain ValueError from the experiments code is bad input: 422 with its one-line message (ServiceError,
    NotFound and the other domain errors keep their own statuses)."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except ValueError as exc:
        if type(exc) is ValueError:
            raise ApiError(422, str(exc)) from None
        raise


def _id(request: Request) -> str:
    return str(request.path_params["experiment_id"])


@api
async def experiments_create(request: Request) -> Response:
    data = await body(request, ExperimentCreate, MAX_IMAGES * MAX_IMAGE_B64)
    spec = data.to_spec()
    created = await _call(service.create_experiment, container(request), token_workspace(request), spec)
    log.info("experiment created", extra={"experiment": created["id"], "kind": data.kind, "arms": len(data.variants)})
    return JSONResponse(created, status_code=201)


@api
async def experiments_list(request: Request) -> Response:
    q = ExperimentsQuery.model_validate(dict(request.query_params))
    rows = await _call(service.list_experiments, container(request), token_workspace(request), q.status)
    return JSONResponse({"experiments": rows})


@api
async def experiment_show(request: Request) -> Response:
    return JSONResponse(
        await _call(service.show_experiment, container(request), token_workspace(request), _id(request))
    )


@api
async def experiment_chart(request: Request) -> Response:
    png = await _call(service.experiment_chart, container(request), token_workspace(request), _id(request))
    return Response(png, media_type="image/png")


@api
async def experiment_stop(request: Request) -> Response:
    stopped = await _call(service.stop_experiment, container(request), token_workspace(request), _id(request))
    log.info("experiment stopped", extra={"experiment": stopped["id"]})
    return JSONResponse(stopped)


@api
async def experiment_apply(request: Request) -> Response:
    data = await body(request, ApplyBody, optional=True)
    applied = await _call(
        service.apply_experiment, container(request), token_workspace(request), _id(request), data.arm
    )
    log.info("experiment applied", extra={"experiment": _id(request), "arm": data.arm or "winner"})
    return JSONResponse(applied)


def _analyse(data: AnalyseBody, base: StoppingRule) -> dict[str, Any]:
    rule = base.with_overrides(data.rule.overrides() if data.rule else None)
    with tempfile.TemporaryDirectory(prefix="cliply-analyse-") as tmp:
        path = Path(tmp) / "results.csv"
        path.write_text(data.csv, encoding="utf-8")
        try:
            report = analysis.analyse_csv(path, metric=data.metric, arm=data.arm, baseline=data.baseline, rule=rule)
        except ValueError as exc:  # the messages name the file: here the body's `csv`, not a server path
            raise ValueError(str(exc).replace(str(path), "csv")) from None
    return {**report, "file": None}


@api
async def experiments_analyse(request: Request) -> Response:
    # JSON escapes can double the CSV text (a newline is two characters).
    data = await body(request, AnalyseBody, 2 * MAX_CSV_CHARS)
    base = StoppingRule.from_settings(container(request).settings)
    return JSONResponse(await _call(_analyse, data, base))


ROUTES = [
    Route("/api/experiments", experiments_list, methods=["GET"]),
    Route("/api/experiments", experiments_create, methods=["POST"]),
    Route("/api/experiments/analyse", experiments_analyse, methods=["POST"]),
    Route("/api/experiments/{experiment_id}", experiment_show, methods=["GET"]),
    Route("/api/experiments/{experiment_id}/chart.png", experiment_chart, methods=["GET"]),
    Route("/api/experiments/{experiment_id}/stop", experiment_stop, methods=["POST"]),
    Route("/api/experiments/{experiment_id}/apply", experiment_apply, methods=["POST"]),
]
