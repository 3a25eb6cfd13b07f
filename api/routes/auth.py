"""Local identity provider: register, login, refresh (rotating), logout, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from api import limits
from api.deps import CurrentUser, RedisDep, ResourcesDep, SessionDep, SettingsDep
from api.limits import Budget, client_ip
from api.schemas.auth import LoginIn, RefreshIn, RegisterIn, TokenPair
from api.schemas.users import UserRead
from api.services import users as service
from core import ratelimit

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def register(
    body: RegisterIn, request: Request, session: SessionDep, resources: ResourcesDep, settings: SettingsDep
) -> object:
    await limits.spend(resources, Budget.REGISTRATION, ip=client_ip(request))
    return await service.register(
        session, email=body.email, password=body.password, full_name=body.full_name, settings=settings
    )


@router.post("/login", response_model=TokenPair)
async def login(
    body: LoginIn, request: Request, session: SessionDep, settings: SettingsDep, redis: RedisDep
) -> object:
    await ratelimit.hit(
        redis,
        f"login:{client_ip(request)}:{body.email.lower()}",
        limit=settings.auth.login_rate_limit,
        window_seconds=settings.auth.login_rate_window,
    )
    user = await service.authenticate(session, email=body.email, password=body.password)
    tokens = await service.issue_tokens(session, user=user, settings=settings)
    return TokenPair(**tokens.__dict__)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshIn, session: SessionDep, settings: SettingsDep) -> object:
    """Trade a refresh token for a new pair; a reused one revokes every token of its login."""
    try:
        tokens = await service.rotate_refresh_token(session, token=body.refresh_token, settings=settings)
    except service.RefreshTokenReused:
        await session.commit()  # the revocation must outlive this failed request
        raise
    return TokenPair(**tokens.__dict__)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshIn, session: SessionDep) -> None:
    """Revoke the refresh token and every token rotated from the same login."""
    await service.logout(session, token=body.refresh_token)


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser) -> object:
    return user
