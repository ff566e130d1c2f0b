"""Check and normalise a contact's handle on a medium."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from crm.models import Medium

_TWITTER_HANDLE = re.compile(r"^@?([A-Za-z0-9_]{1,15})$")
_SKYPE_NAME = re.compile(r"^(live:[A-Za-z0-9._-]{1,64}|[A-Za-z][A-Za-z0-9.,_-]{5,31})$")
_HOSTS = {
    "twitter": ("twitter.com", "x.com"),
    "linkedin": ("linkedin.com",),
    "facebook": ("facebook.com", "fb.com"),
}
# Profiles addressed by number rather than by name (Facebook's profile.php?id=…, LinkedIn's
# old profile/view?id=…): the person is in the query, which every other profile link drops.
_NUMBERED_PROFILE_PATHS = ("/profile.php", "/profile/view")


class ChannelError(ValueError):
    """The value is not a valid handle for that medium; the message says why."""


def handle_key(value: str) -> str:
    """A handle as compared with another on the same medium: case folded, so one differing
    only in case is the same handle (the contact form, imports and merges alike)."""
    return value.casefold()

def keep_label(kept, repeated) -> None:
    """Two records of one handle (by handle_key) become `kept`, the caller dropping
    `repeated`: kept takes repeated's label when it has none, so no label is lost to a
    merge or a move of handles between mediums."""
    if not kept.label and repeated.label:
        kept.label = repeated.label


def normalise_channel(medium: Medium, raw: str, *, phone_region: str | None = None) -> str:
    """Return the stored form of a handle on a medium, or raise ChannelError."""
    value = (raw or "").strip()
    if not value:
        raise ChannelError("Enter a handle, address or number.")
    if len(value) > 255:
        raise ChannelError("Keep it under 256 characters.")
    stored = _normalised(medium, value, phone_region)
    if len(stored) > 255:  # a profile or web address grows a scheme and a host
        raise ChannelError(f"Keep it under 256 characters: as a full link it has {len(stored)}.")
    return stored


def _normalised(medium: Medium, value: str, phone_region: str | None) -> str:
    kind = medium.key
    if kind == "email":
        return normalise_email_address(value)
    if kind in ("phone", "text_message"):
        return normalise_phone(value, phone_region)
    if kind == "twitter":
        return _twitter(value)
    if kind == "skype":
        if not _SKYPE_NAME.match(value):
            raise ChannelError(
                "A Skype name starts with a letter and has 6 to 32 letters, digits or . , - _"
            )
        return value
    if kind in ("linkedin", "facebook"):
        return _profile_url(value, _HOSTS[kind], medium.name)
    # Face-to-face, video calls and custom mediums: a URL if it looks like one,
    # otherwise any short free-text handle (a venue, a Zoom room, @me@mastodon).
    if "://" in value or value.lower().startswith("www."):
        return _any_url(value)
    return value


def normalise_email_address(value: str) -> str:
    """Validate an email address and return its normalised form."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ChannelError(f"That is not a valid email address: {exc}") from exc


def normalise_phone(value: str, region: str | None) -> str:
    """Parse a phone number and return it in E.164."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region else " Start with + and the country code, e.g. +44 20 7946 0958."
        raise ChannelError(f"That is not a phone number.{hint}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ChannelError("That phone number is not valid for its country.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _twitter(value: str) -> str:
    if "/" in value:
        parts = urlsplit(value if "://" in value else "https://" + value)
        host = parts.netloc.lower().removeprefix("www.").removeprefix("mobile.")
        if host not in _HOSTS["twitter"]:
            raise ChannelError("Give an @handle or a twitter.com / x.com profile link.")
        value = parts.path.strip("/").split("/")[0]
    match = _TWITTER_HANDLE.match(value)
    if not match:
        raise ChannelError("An @handle has 1 to 15 letters, digits or underscores.")
    return "@" + match.group(1)


def _profile_url(value: str, hosts: tuple[str, ...], medium_name: str) -> str:
    url = value if "://" in value else "https://" + value
    parts = urlsplit(url)
    host = parts.netloc.lower().split(":")[0]
    bare = host.removeprefix("www.")
    bare = bare.split(".", 1)[1] if bare.count(".") > 1 else bare  # uk.linkedin.com
    if parts.scheme not in ("http", "https") or bare not in hosts:
        raise ChannelError(f"Give a {medium_name} profile link, e.g. https://{hosts[0]}/in/name")
    path = parts.path.rstrip("/")
    if not path or path == "/":
        raise ChannelError(f"That {medium_name} link has no profile in it.")
    if path.lower() in _NUMBERED_PROFILE_PATHS:
        number = (parse_qs(parts.query).get("id") or [""])[0].strip()
        if not number:
            raise ChannelError(f"That {medium_name} link has no profile in it: a "
                               f"{path.lstrip('/')} link needs its id=….")
        return f"https://www.{hosts[0]}{path}?id={quote(number, safe='')}"
    return f"https://www.{hosts[0]}{path}"


def _any_url(value: str) -> str:
    url = value if "://" in value else "https://" + value
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "." not in parts.netloc:
        raise ChannelError("That link is not a valid http(s) address.")
    return url


def channel_href(medium: Medium, value: str) -> str | None:
    """Return a link that opens the channel, where there is one."""
    kind = medium.key
    if kind == "email":
        return f"mailto:{value}"
    if kind in ("phone",):
        return f"tel:{value}"
    if kind == "text_message":
        return f"sms:{value}"
    if kind == "twitter":
        return f"https://x.com/{value.lstrip('@')}"
    if kind == "skype":
        return f"skype:{value}?chat"
    if value.startswith(("http://", "https://")):
        return value
    return None
