"""Registers one confidential client and its users from a JSON file (the provider has no command for it)."""

import json

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oidc_provider.models import Client, ResponseType


class Command(BaseCommand):
    help = "provision SPEC.json: {client: {client_id, client_secret, redirect_uris, ...}, users: [...]}"

    def add_arguments(self, parser):
        parser.add_argument("spec")

    def handle(self, spec, **options):
        with open(spec) as f:
            data = json.load(f)
        c = data["client"]
        client = Client.objects.create(
            name="Naevus (test)",
            client_type="confidential",
            client_id=c["client_id"],
            client_secret=c["client_secret"],
            jwt_alg="RS256",
            require_consent=True,
            reuse_consent=False,
            redirect_uris=c["redirect_uris"],
            post_logout_redirect_uris=c["post_logout_redirect_uris"],
        )
        client.response_types.add(ResponseType.objects.get(value="code"))
        for u in data["users"]:
            user = User.objects.create_user(u["username"], email=u["email"], password=u["password"])
            for name in u.get("groups", []):
                user.groups.add(Group.objects.get_or_create(name=name)[0])
        self.stdout.write(f"client {client.client_id} and {len(data['users'])} users provisioned")
