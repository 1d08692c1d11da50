from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from budportal.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API bearer token for a user. The token is printed once; only its hash is stored."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}")
        _, raw = ApiToken.issue(user=user, name=name)
        self.stdout.write(raw)
