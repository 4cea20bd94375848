from rest_framework.permissions import BasePermission

from .selectors import user_membership


class IsClinicMember(BasePermission):
    """Signed in and either a superuser or a member of a clinic. Object scoping happens in selectors."""

    message = "Your account is not a member of any clinic."

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return user.is_superuser or user_membership(user=user) is not None


class IsSuperuser(BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)
