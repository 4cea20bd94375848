from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.core.throttling import AtomicScopedRateThrottle

from . import services
from .authentication import CsrfSessionAuthentication
from .serializers import CsrfSerializer, LoginSerializer, LogoutSerializer, MeSerializer


class CsrfApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses=CsrfSerializer)
    @method_decorator(ensure_csrf_cookie)
    def get(self, request):
        return Response({"csrfToken": get_token(request)})


class LoginApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [AtomicScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=LoginSerializer, responses=MeSerializer)
    def post(self, request):
        # Login CSRF: DRF only enforces CSRF for already-authenticated sessions.
        CsrfSessionAuthentication().enforce_csrf(request)
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_login(request=request._request, **data.validated_data)
        return Response(MeSerializer(user).data)


class LogoutApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: LogoutSerializer, 204: None})
    def post(self, request):
        """204: signed out. 200: signed out here; send the browser to `redirect_url` to end the OpenID
        Connect provider's session too."""
        redirect_url = services.session_logout(request=request._request)
        if redirect_url:
            return Response({"redirect_url": redirect_url})
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
