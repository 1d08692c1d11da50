"""Pipeline actions of the use-case app; registered in ``UsecasesConfig.ready()``."""
