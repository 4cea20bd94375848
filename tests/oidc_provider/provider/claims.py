"""What the provider says about a user: e-mail (verified unless the user is in the `unverified` group) and,
in the ID token, the names of their groups (the portal's OIDC_ROLE_CLAIM in the tests)."""


def userinfo(claims, user):
    claims["email"] = user.email
    claims["email_verified"] = not user.groups.filter(name="unverified").exists()
    claims["name"] = user.get_full_name()
    return claims


def groups_in_id_token(id_token, user, token, request, **kwargs):
    id_token["groups"] = sorted(user.groups.values_list("name", flat=True))
    return id_token
