"""A model field for secrets: encrypted at rest, never searchable, never rendered.

:class:`SecretField` stores :func:`~django_cfpurge.crypto.encrypt`'s output and gives
back the plain value. A stored value that no key opens comes back as an
:class:`UnreadableSecret` (an empty string that remembers the ciphertext), so reading a
zone never crashes; saving it again keeps the ciphertext, and using it raises
:class:`~django_cfpurge.exceptions.UnreadableCredentials` with
:data:`UNREADABLE_MESSAGE`.

Lookups other than ``isnull`` and ``exact`` (for the empty value) are refused: a
``__startswith`` filter on a secret would be an oracle. Serialisers (``dumpdata``) get
the ciphertext, and so do Django's save frames (:meth:`SecretField.pre_save`
encrypts); the default form field is a password input that never renders a value, so a
form built from the model by anyone shows no secret either.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import Lookup
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from . import crypto

#: What a person is told about a stored secret that no configured key opens.
UNREADABLE_MESSAGE = gettext_lazy(
    "The stored credentials cannot be read (the encryption keys changed): enter them again."
)


class UnreadableSecret(str):
    """A stored secret that no configured key decrypts. Equal to ``""``."""

    ciphertext: str

    def __new__(cls, ciphertext: str) -> UnreadableSecret:
        value = super().__new__(cls, "")
        value.ciphertext = ciphertext
        return value

    def __repr__(self) -> str:
        return "<UnreadableSecret>"

    def __reduce__(self) -> Any:
        return (UnreadableSecret, (self.ciphertext,))


class SecretField(models.TextField):
    """A ``TextField`` whose value is encrypted in the database."""

    _ALLOWED_LOOKUPS = frozenset({"isnull", "exact"})

    @sensitive_variables()
    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        try:
            return crypto.decrypt(value)
        except (crypto.InvalidToken, ValueError, ImproperlyConfigured):
            # No key opens it, or the keys are misconfigured (the zone form and the
            # encryption itself say which setting): never a crash when reading.
            return UnreadableSecret(value)

    def to_python(self, value: Any) -> Any:
        return value

    @sensitive_variables()
    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, UnreadableSecret):
            return value.ciphertext
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        if str(value).startswith(crypto.PREFIX):
            return value
        return crypto.encrypt(str(value))

    @sensitive_variables()
    def pre_save(self, model_instance: Any, add: bool) -> Any:
        # What the save machinery holds (and an error page would show of its frames)
        # is the ciphertext: encrypted here, before Django's save frames see it, and
        # left alone by get_prep_value afterwards.
        return self.get_prep_value(super().pre_save(model_instance, add))

    def get_lookup(self, lookup_name: str) -> type[Lookup] | None:
        if lookup_name not in self._ALLOWED_LOOKUPS:
            return None
        return super().get_lookup(lookup_name)

    def value_to_string(self, obj: Any) -> str:
        # Serialisers (dumpdata) get the ciphertext, never the plain value.
        value = self.value_from_object(obj)
        return str(self.get_prep_value(value) or "")

    def formfield(self, **kwargs: Any) -> Any:
        # A TextField's textarea would print the plain value into the page.
        defaults = {
            "form_class": forms.CharField,
            "widget": forms.PasswordInput(render_value=False),
            "strip": False,
        }
        return super().formfield(**{**defaults, **kwargs})
