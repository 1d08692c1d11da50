"""Clusters and jobs over HTTP: validate, call one service or selector, return a schema."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router
from ninja.pagination import paginate
from ninja.responses import Status

from budportal.errors import ForbiddenError
from clusterjobs import registries, selectors, services
from clusterjobs.filters import ClusterFilter, JobFilter
from clusterjobs.schemas import (
    ClusterHealthOut,
    ClusterIn,
    ClusterOut,
    ClusterShareIn,
    JobIn,
    JobOut,
    RegistryIn,
    RegistryOut,
)
from pipelines.listing import PagePagination, filter_openapi, filter_queryset

router = Router(tags=["clusters"])


@router.get(
    "/clusters", response=list[ClusterOut], summary="List clusters", openapi_extra=filter_openapi(ClusterFilter)
)
@paginate(PagePagination)
def cluster_list(request: HttpRequest):
    qs = selectors.cluster_list(user=request.auth).prefetch_related("shared_with_groups")
    return filter_queryset(ClusterFilter, request.GET, qs)


@router.post("/clusters", response={201: ClusterOut}, summary="Register a cluster (kubeconfig is write-only)")
def cluster_create(request: HttpRequest, payload: ClusterIn):
    if not selectors.can_add_cluster(request.auth):
        raise ForbiddenError("registering clusters needs the clusterjobs.add_cluster permission; ask an admin")
    cluster = services.cluster_create(
        owner=request.auth,
        name=payload.name,
        kubeconfig=payload.kubeconfig.get_secret_value(),
        ingress_url=payload.ingress_url,
        shared_with_groups=payload.shared_with_groups,
    )
    return Status(201, cluster)


@router.get("/clusters/{cluster_id}", response=ClusterOut, summary="Get a cluster")
def cluster_detail(request: HttpRequest, cluster_id: uuid.UUID):
    return selectors.cluster_get(user=request.auth, cluster_id=cluster_id)


@router.delete("/clusters/{cluster_id}", response={204: None}, summary="Delete a cluster (409 while in use)")
def cluster_delete(request: HttpRequest, cluster_id: uuid.UUID):
    services.cluster_delete(cluster=selectors.cluster_get_for_change(user=request.auth, cluster_id=cluster_id))
    return Status(204, None)


@router.put("/clusters/{cluster_id}/groups", response=ClusterOut, summary="Share a cluster with these groups")
def cluster_share(request: HttpRequest, cluster_id: uuid.UUID, payload: ClusterShareIn):
    cluster = selectors.cluster_get_for_change(user=request.auth, cluster_id=cluster_id)
    return services.cluster_share(cluster=cluster, by=request.auth, group_ids=payload.shared_with_groups)


@router.get("/clusters/{cluster_id}/health", response=ClusterHealthOut, summary="Is the API server healthy?")
def cluster_health(request: HttpRequest, cluster_id: uuid.UUID):
    return services.cluster_health(cluster=selectors.cluster_get(user=request.auth, cluster_id=cluster_id))


@router.get("/jobs", response=list[JobOut], tags=["jobs"], summary="List jobs", openapi_extra=filter_openapi(JobFilter))
@paginate(PagePagination)
def job_list(request: HttpRequest):
    return filter_queryset(JobFilter, request.GET, selectors.job_list(user=request.auth))


@router.post("/jobs", response={201: JobOut}, tags=["jobs"], summary="Create a job (PENDING)")
def job_create(request: HttpRequest, payload: JobIn):
    cluster = selectors.cluster_get(user=request.auth, cluster_id=payload.cluster_id)
    job = services.job_create(
        owner=request.auth,
        cluster=cluster,
        job_type=payload.job_type,
        config=payload.config,
        source=payload.source,
        source_id=payload.source_id,
        name=payload.name,
        timeout_seconds=payload.timeout_seconds,
    )
    return Status(201, job)


@router.get("/jobs/{job_id}", response=JobOut, tags=["jobs"], summary="Get a job")
def job_detail(request: HttpRequest, job_id: uuid.UUID):
    return selectors.job_get(user=request.auth, job_id=job_id)


@router.post("/jobs/{job_id}/execute", response={202: JobOut}, tags=["jobs"], summary="Queue a PENDING job")
def job_execute(request: HttpRequest, job_id: uuid.UUID):
    job = selectors.job_get(user=request.auth, job_id=job_id)
    return Status(202, services.job_execute(job_id=job.pk))


@router.post("/jobs/{job_id}/cancel", response=JobOut, tags=["jobs"], summary="Cancel a job")
def job_cancel(request: HttpRequest, job_id: uuid.UUID):
    job = selectors.job_get(user=request.auth, job_id=job_id)
    return services.job_cancel(job_id=job.pk)


@router.get("/registries", response=list[RegistryOut], tags=["registries"], summary="Your chart registry credentials")
def registry_list(request: HttpRequest):
    return registries.registry_list(owner=request.auth)


@router.put(
    "/registries", response=RegistryOut, tags=["registries"], summary="Store credentials for a chart host (write-only)"
)
def registry_put(request: HttpRequest, payload: RegistryIn):
    return registries.registry_put(
        owner=request.auth,
        host=payload.host,
        username=payload.username,
        password=payload.password.get_secret_value(),
        ca_pem=payload.ca_pem,
    )


@router.delete("/registries/{registry_id}", response={204: None}, tags=["registries"], summary="Forget a chart host")
def registry_delete(request: HttpRequest, registry_id: uuid.UUID):
    registries.registry_delete(owner=request.auth, registry_id=registry_id)
    return Status(204, None)
