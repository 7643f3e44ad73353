"""Public endpoints (no token) and the tenant configuration the SDKs read at login."""

from __future__ import annotations

from ..backend import Backend
from ..messages import Request, Response
from ..model import now_iso
from ..routing import Router

V4 = "/api/v4"


def software_version(backend: Backend, req: Request) -> Response:
    return Response(
        body={
            "restApiVersion": backend.settings.api_version,
            "sdsServerVersion": backend.settings.api_version,
            "buildDate": "2024-01-01T00:00:00.000Z",
            "scmRevisionNumber": "emulator",
            "isDracoonCloud": True,
        }
    )


def system_info(backend: Backend, req: Request) -> Response:
    return Response(
        body={
            "languageDefault": "en",
            "authMethods": [{"name": "basic", "isEnabled": True, "priority": 1}],
            "hideLoginInputFields": False,
            "s3Hosts": [],
            "s3EnforceDirectUpload": backend.settings.s3_enforce_direct_upload,
            "useS3Storage": backend.settings.s3_direct_upload,
        }
    )


def empty_items(backend: Backend, req: Request) -> Response:
    return Response(body={"items": []})


def server_time(backend: Backend, req: Request) -> Response:
    return Response(body={"time": now_iso()})


def ping(backend: Backend, req: Request) -> Response:
    return Response(body="test", content_type="text/plain;charset=UTF-8")


def general(backend: Backend, req: Request) -> Response:
    settings = backend.settings
    lifetime = int(settings.token_lifetime_seconds)
    return Response(
        body={
            "sharePasswordSmsEnabled": False,
            "cryptoEnabled": settings.crypto_enabled,
            "emailNotificationButtonEnabled": False,
            "eulaEnabled": False,
            "weakPasswordEnabled": False,
            "mediaServerEnabled": False,
            "useS3Storage": settings.s3_direct_upload,
            "s3TagsEnabled": False,
            "homeRoomsActive": False,
            "subscriptionPlan": 0,
            "authTokenRestrictions": {
                "restrictionEnabled": True,
                "accessTokenValidity": lifetime,
                "refreshTokenValidity": int(settings.refresh_token_lifetime_seconds),
            },
        }
    )


def defaults(backend: Backend, req: Request) -> Response:
    return Response(
        body={
            "languageDefault": "en",
            "downloadShareDefaultExpirationPeriod": 14,
            "uploadShareDefaultExpirationPeriod": 14,
            "fileDefaultExpirationPeriod": 0,
            "nonmemberViewerDefault": False,
        }
    )


def infrastructure(backend: Backend, req: Request) -> Response:
    return Response(
        body={
            "smsConfigEnabled": False,
            "mediaServerConfigEnabled": False,
            "s3DefaultRegion": "eu-central-1",
            "s3EnforceDirectUpload": backend.settings.s3_enforce_direct_upload,
            "isDracoonCloud": True,
            "tenantUuid": "00000000-0000-4000-8000-00000000e0e0",
        }
    )


def algorithms(backend: Backend, req: Request) -> Response:
    return Response(
        body={
            "keyPairAlgorithms": [
                {"version": "RSA-4096", "description": "RSA 4096 bit", "status": "REQUIRED"},
                {"version": "A", "description": "RSA 2048 bit (legacy)", "status": "DISCOURAGED"},
            ],
            "fileKeyAlgorithms": [
                {
                    "version": "RSA-4096/AES-256-GCM",
                    "description": "AES-256-GCM, key wrapped with RSA 4096",
                    "status": "REQUIRED",
                },
                {
                    "version": "A",
                    "description": "AES-256-GCM, key wrapped with RSA 2048 (legacy)",
                    "status": "DISCOURAGED",
                },
            ],
        }
    )


def register(router: Router) -> None:
    router.add("GET", f"{V4}/public/software/version", software_version, auth=False)
    router.add("GET", f"{V4}/public/system/info", system_info, auth=False)
    router.add("GET", f"{V4}/public/system/info/auth/ad", empty_items, auth=False)
    router.add("GET", f"{V4}/public/system/info/auth/openid", empty_items, auth=False)
    router.add("GET", f"{V4}/public/system/info/auth/radius", empty_items, auth=False)
    router.add("GET", f"{V4}/public/time", server_time, auth=False)
    router.add("GET", f"{V4}/auth/ping", ping, auth=False)
    router.add("GET", f"{V4}/user/ping", ping)
    router.add("GET", f"{V4}/config/info/general", general)
    router.add("GET", f"{V4}/config/info/defaults", defaults)
    router.add("GET", f"{V4}/config/info/infrastructure", infrastructure)
    router.add("GET", f"{V4}/config/info/policies/algorithms", algorithms)
