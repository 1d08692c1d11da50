"""The JSON API: one NinjaAPI, a Router per app, errors mapped to HTTP in one place."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Swagger
from ninja.errors import AuthenticationError

from budportal.auth import TokenRateLimited, api_auth
from budportal.errors import ConflictError, ForbiddenError, Overloaded, ServiceValidationError
from budportal.middleware import request_too_big
from clusterjobs.api import router as clusterjobs_router
from pipelines.api import router as pipelines_router
from usecases.api import router as usecases_router

api = NinjaAPI(
    title="Bud Portal API",
    version="1.0.0",
    description="Deploy multi-component AI use cases onto Kubernetes clusters.",
    auth=api_auth,
    urls_namespace="api",
    # Swagger UI's validator badge would send the schema URL to validator.swagger.io: nothing leaves the portal.
    docs=Swagger(settings={"validatorUrl": None}),
)
api.add_router("", usecases_router)
api.add_router("", pipelines_router)
api.add_router("", clusterjobs_router)


class MeOut(Schema):
    id: int
    username: str
    is_staff: bool


@api.get("/me", response=MeOut, tags=["auth"], summary="Who am I")
def me(request: HttpRequest):
    return request.auth


@api.exception_handler(ServiceValidationError)
def on_validation_error(request: HttpRequest, exc: ServiceValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(ConflictError)
def on_conflict(request: HttpRequest, exc: ConflictError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=409)


@api.exception_handler(ForbiddenError)
def on_forbidden(request: HttpRequest, exc: ForbiddenError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(TokenRateLimited)
def on_rate_limited(request: HttpRequest, exc: TokenRateLimited) -> HttpResponse:
    response = api.create_response(request, {"detail": "Too many failed token attempts; retry later."}, status=429)
    response["Retry-After"] = "60"
    return response


@api.exception_handler(RequestDataTooBig)
def on_request_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return request_too_big(request)


@api.exception_handler(Overloaded)
def on_overloaded(request: HttpRequest, exc: Overloaded) -> HttpResponse:
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"detail": "Authentication required."}, status=401)
