from django.contrib.auth.models import AbstractBaseUser

from .models import Clinic, Membership


def user_membership(*, user: AbstractBaseUser) -> Membership | None:
    if not user or not user.is_authenticated:
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def user_clinic(*, user: AbstractBaseUser) -> Clinic | None:
    membership = user_membership(user=user)
    return membership.clinic if membership else None
