"""Users and the local identity provider: registration, login, rotating refresh tokens, provisioning."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.users import UserCreate, UserUpdate
from core.crud import fetch_page, order_by
from core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from core.identity import Identity
from core.models import ChatMessage, MeetingParticipant, MemberRole, ProjectMember, RefreshToken, User
from core.security import (
    create_access_token,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from core.settings import Settings

# Serialises user creation (until commit), so that exactly one first user becomes admin and concurrent
# first requests of one Supabase user provision one row.
_USER_CREATION_LOCK = 0x7631_7430


class RefreshTokenReused(Unauthorized):
    """A spent or revoked refresh token came back: its family is revoked, and that must be committed."""


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


async def _lock_user_creation(session: AsyncSession) -> None:
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_USER_CREATION_LOCK)))


async def _becomes_admin(session: AsyncSession, email: str, admin_emails: list[str]) -> bool:
    """Whether a new user is admin; the caller holds the user-creation lock."""
    if email in admin_emails:
        return True
    return not await session.scalar(sa.select(sa.exists().where(User.id.is_not(None))))


async def _ensure_email_free(session: AsyncSession, email: str) -> None:
    if await session.scalar(sa.select(sa.exists().where(User.email == email))):
        raise Conflict("a user with this email already exists", code="email_taken")


async def register(
    session: AsyncSession, *, email: str, password: str, full_name: str, settings: Settings
) -> User:
    email = email.lower()
    if len(password) < settings.auth.password_min_length:
        raise Invalid(f"password must have at least {settings.auth.password_min_length} characters")
    await _lock_user_creation(session)
    await _ensure_email_free(session, email)
    is_admin = await _becomes_admin(session, email, settings.auth.admin_emails)
    user = User(email=email, full_name=full_name, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    user = await session.scalar(sa.select(User).where(User.email == email.lower()))
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("wrong email or password")
    if not user.is_active:
        raise Unauthorized("account disabled")
    user.last_login_at = datetime.now(UTC)
    return user


async def issue_tokens(
    session: AsyncSession, *, user: User, settings: Settings, family_id: uuid.UUID | None = None
) -> IssuedTokens:
    raw, digest = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=digest,
            family_id=family_id or uuid.uuid4(),
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.auth.refresh_token_ttl),
        )
    )
    await session.flush()
    access = create_access_token(
        user_id=user.id, secret=settings.token_secret(), ttl_seconds=settings.auth.access_token_ttl
    )
    return IssuedTokens(access_token=access, refresh_token=raw, expires_in=settings.auth.access_token_ttl)


async def rotate_refresh_token(session: AsyncSession, *, token: str, settings: Settings) -> IssuedTokens:
    """Trade a refresh token for a new pair. Reusing a spent token revokes its whole family (theft)."""
    row = await session.scalar(
        sa.select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token)).with_for_update()
    )
    now = datetime.now(UTC)
    if row is None:
        raise Unauthorized("invalid refresh token")
    if row.used_at is not None or row.revoked_at is not None:
        await revoke_family(session, family_id=row.family_id)
        raise RefreshTokenReused("refresh token already used or revoked")
    if row.expires_at <= now:
        raise Unauthorized("refresh token expired")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("account disabled")
    row.used_at = now
    return await issue_tokens(session, user=user, settings=settings, family_id=row.family_id)


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )


async def logout(session: AsyncSession, *, token: str) -> None:
    row = await session.scalar(
        sa.select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(token))
    )
    if row is not None:
        await revoke_family(session, family_id=row.family_id)


async def provision_external_user(
    session: AsyncSession, *, identity: Identity, admin_emails: list[str]
) -> User:
    """The user behind a verified Supabase token, created on first sight.

    A user an admin created beforehand (same email, no Supabase id yet) is linked instead of duplicated.
    """
    by_subject = sa.select(User).where(User.supabase_id == identity.subject)
    user = await session.scalar(by_subject)
    if user is None:
        await _lock_user_creation(session)
        user = await session.scalar(by_subject)  # a concurrent first request may have just created it
    if user is not None:
        return user
    email = (identity.email or f"{identity.subject}@users.supabase.invalid").lower()
    existing = await session.scalar(sa.select(User).where(User.email == email).with_for_update())
    if existing is not None:
        if existing.supabase_id is not None or existing.password_hash is not None:
            raise Unauthorized("this email belongs to another account")
        existing.supabase_id = identity.subject
        return existing
    user = User(
        supabase_id=identity.subject,
        email=email,
        full_name=identity.name or "",
        avatar_url=identity.avatar_url,
        is_admin=await _becomes_admin(session, email, admin_emails),
    )
    session.add(user)
    await session.flush()
    return user


def _visible_user(actor: User, user_id: uuid.UUID) -> None:
    if not actor.is_admin and actor.id != user_id:
        raise NotFound("user not found")


async def get_user(session: AsyncSession, *, actor: User, user_id: uuid.UUID) -> User:
    _visible_user(actor, user_id)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


USER_SORTS = {"email": User.email, "full_name": User.full_name, "created_at": User.created_at}


async def list_users(
    session: AsyncSession, *, limit: int, offset: int, sort: str | None, q: str | None, is_active: bool | None
) -> tuple[list[User], int]:
    query = sa.select(User)
    if q:
        query = query.where(
            sa.or_(User.email.icontains(q, autoescape=True), User.full_name.icontains(q, autoescape=True))
        )
    if is_active is not None:
        query = query.where(User.is_active == is_active)
    ordering = order_by(sort, USER_SORTS, User.id) if sort else [User.created_at, User.id]
    return await fetch_page(session, query, limit=limit, offset=offset, ordering=ordering)


async def create_user(session: AsyncSession, *, data: UserCreate) -> User:
    email = data.email.lower()
    await _ensure_email_free(session, email)
    user = User(
        email=email,
        full_name=data.full_name,
        is_admin=data.is_admin,
        password_hash=hash_password(data.password) if data.password else None,
    )
    session.add(user)
    await session.flush()
    return user


async def update_user(session: AsyncSession, *, actor: User, user_id: uuid.UUID, data: UserUpdate) -> User:
    user = await get_user(session, actor=actor, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    if not actor.is_admin and ({"is_admin", "is_active"} & changes.keys()):
        raise Forbidden("only admins can change is_admin or is_active")
    if actor.id == user.id and (changes.get("is_admin") is False or changes.get("is_active") is False):
        raise Conflict("admins cannot demote or deactivate themselves")
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
        await revoke_all_tokens(session, user_id=user.id)
    if changes.get("avatar_url") is not None:
        changes["avatar_url"] = str(changes["avatar_url"])
    for field, value in changes.items():
        setattr(user, field, value)
    await session.flush()
    return user


async def revoke_all_tokens(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )


async def delete_user(session: AsyncSession, *, actor: User, user_id: uuid.UUID) -> None:
    user = await get_user(session, actor=actor, user_id=user_id)
    if user.id == actor.id and actor.is_admin:
        raise Conflict("admins cannot delete themselves")
    other_owner = sa.orm.aliased(ProjectMember)
    sole_owner_of = await session.scalar(
        sa.select(sa.func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.user_id == user.id, ProjectMember.role == MemberRole.OWNER)
        .where(
            ~sa.exists().where(
                other_owner.project_id == ProjectMember.project_id,
                other_owner.role == MemberRole.OWNER,
                other_owner.user_id != user.id,
            )
        )
    )
    if sole_owner_of:
        raise Conflict(
            f"the user is the only owner of {sole_owner_of} project(s); transfer ownership first",
            code="sole_owner",
        )
    await session.delete(user)
    await session.flush()


async def user_stats(session: AsyncSession, *, actor: User, user_id: uuid.UUID) -> dict[str, object]:
    user = await get_user(session, actor=actor, user_id=user_id)
    projects = await session.scalar(
        sa.select(sa.func.count()).select_from(ProjectMember).where(ProjectMember.user_id == user.id)
    )
    owned = await session.scalar(
        sa.select(sa.func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.user_id == user.id, ProjectMember.role == MemberRole.OWNER)
    )
    meetings = await session.scalar(
        sa.select(sa.func.count(sa.distinct(MeetingParticipant.meeting_id))).where(
            MeetingParticipant.user_id == user.id
        )
    )
    chats = await session.scalar(
        sa.select(sa.func.count()).select_from(ChatMessage).where(ChatMessage.user_id == user.id)
    )
    return {
        "user_id": user.id,
        "projects": projects or 0,
        "projects_owned": owned or 0,
        "meetings_attended": meetings or 0,
        "chat_messages": chats or 0,
    }
