"""The use-case API: one router per domain, mounted under ``/templates`` and ``/deployments``."""

from ninja import Router

from usecases.api.deployments import router as deployments_router
from usecases.api.resources import router as resources_router
from usecases.api.templates import router as templates_router

router = Router()
router.add_router("/templates", templates_router)
router.add_router("/deployments", deployments_router)
router.add_router("/deployments", resources_router)
