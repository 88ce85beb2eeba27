"""Admin forms: the zone form (built for one backend; secret inputs that never render a
stored value) and the manual purge form (every item checked before anything is written).

Secrets in the zone form: the stored value is never rendered and never the form's
initial value (so a field left blank keeps it and counts as no change); it is shown at
most masked (:func:`mask`). The methods that handle secrets are marked with
``sensitive_variables`` for error reports.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import crypto, targets
from .backends import backend_choices, get_backend_class
from .backends.base import Backend
from .enums import Kind
from .exceptions import CfPurgeConfigurationError, InvalidCredentials, InvalidTarget
from .fields import UNREADABLE_MESSAGE, UnreadableSecret
from .models import CREDENTIAL_COLUMNS, SECRET_COLUMNS, Zone
from .zones import clean_hostnames

#: Characters shown of the end of a stored secret, for secrets of at least
#: ``_MASK_MIN_LENGTH`` characters; a shorter one is shown as "set" only.
MASK_VISIBLE = 4
_MASK_MIN_LENGTH = 3 * MASK_VISIBLE


def mask(value: str) -> str:
    """What may be shown of a stored secret: that it is set, and its last 4 characters."""
    if isinstance(value, UnreadableSecret):
        return str(UNREADABLE_MESSAGE)
    if not value:
        return gettext("not set")
    if len(value) < _MASK_MIN_LENGTH:
        return gettext("set")
    return gettext("set, ends in …%(end)s") % {"end": value[-MASK_VISIBLE:]}


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value, whatever the form holds."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        base = {"autocomplete": "new-password", "spellcheck": "false"}
        super().__init__(attrs={**base, **(attrs or {})}, render_value=False)


class ZoneForm(forms.ModelForm):
    """A zone of one backend: only that backend's values, trimmed and checked by it;
    stored secrets kept when left blank.

    :param backend: the backend name (a new zone's choice; a zone keeps its own).
    """

    class Meta:
        model = Zone
        fields = ["name", "backend", "enabled", "hostnames", "plan", *CREDENTIAL_COLUMNS]
        widgets = {"hostnames": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, backend: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name = self.instance.backend if self.instance.pk else (backend or "cloudflare")
        self.backend_name = name
        self.backend_cls: type[Backend] | None
        try:
            self.backend_cls = get_backend_class(name)
        except CfPurgeConfigurationError:
            self.backend_cls = None
        if "backend" in self.fields:
            self.fields["backend"] = forms.ChoiceField(
                label=_("CDN"), choices=backend_choices(), initial=name, disabled=True
            )
            self.initial["backend"] = name
        self._shape_credential_fields()

    def _shape_credential_fields(self) -> None:
        declared = (
            {f.name: f for f in self.backend_cls.credential_fields} if self.backend_cls else {}
        )
        for column in CREDENTIAL_COLUMNS:
            if column not in self.fields:
                continue
            if column == "auth_kind":
                if self.backend_cls and self.backend_cls.auth_kinds:
                    self.fields[column] = forms.ChoiceField(
                        label=_("authentication"),
                        choices=self.backend_cls.auth_kinds,
                        widget=forms.RadioSelect,
                        initial=self.backend_cls.auth_kinds[0][0],
                    )
                else:
                    del self.fields[column]
                continue
            spec = declared.get(column)
            if spec is None:
                del self.fields[column]
                continue
            if spec.secret:
                stored = getattr(self.instance, column) if self.instance.pk else ""
                # The stored value stays out of the form's state: it is never rendered,
                # and a blank field means "keep it", not "changed".
                self.initial.pop(column, None)
                help_text: Any
                if isinstance(stored, UnreadableSecret):
                    help_text = UNREADABLE_MESSAGE
                elif stored:
                    help_text = gettext(
                        "%(stored)s. Leave blank to keep it; type a new value to replace it."
                    ) % {"stored": capfirst(mask(stored))}
                else:
                    help_text = spec.help_text
                self.fields[column] = forms.CharField(
                    label=spec.label,
                    required=False,
                    strip=False,
                    widget=SecretInput(),
                    help_text=help_text,
                )
            else:
                self.fields[column].label = spec.label
                self.fields[column].required = False
                if spec.help_text:
                    self.fields[column].help_text = spec.help_text

    def clean_name(self) -> str:
        return (self.cleaned_data.get("name") or "").strip()

    def clean_hostnames(self) -> str:
        try:
            return "\n".join(clean_hostnames(self.cleaned_data.get("hostnames") or ""))
        except InvalidCredentials as err:
            raise forms.ValidationError(str(err), code="invalid") from None

    @sensitive_variables()
    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        data["backend"] = self.backend_name
        if self.backend_cls is None:
            self.add_error(
                None, gettext("Unknown CDN backend %(name)s.") % {"name": self.backend_name}
            )
            return data
        self._check_encryption_keys()
        self._unreadable: set[str] = set()
        values = {column: self._value(column, data) for column in CREDENTIAL_COLUMNS}
        try:
            values = self.backend_cls.cleaned_values(values)
        except InvalidCredentials as err:
            field = err.field if err.field in self.fields else None
            # "Enter the API token" for a stored token no key opens: say why it is gone.
            message = UNREADABLE_MESSAGE if field in self._unreadable else str(err)
            self.add_error(field, message)
        for column in CREDENTIAL_COLUMNS:
            data[column] = values.get(column, "")
        return data

    def _check_encryption_keys(self) -> None:
        """A secret cannot be saved with a malformed ``ENCRYPTION_KEYS``: say so here,
        rather than fail when the row is written."""
        if not any(column in self.fields for column in SECRET_COLUMNS):
            return
        try:
            crypto.fernet()
        except crypto.InvalidEncryptionKey as err:
            self.add_error(None, str(err))

    @sensitive_variables()
    def _value(self, column: str, data: dict[str, Any]) -> str:
        """The value a column will hold: typed, or (a secret left blank) the stored one."""
        if column not in self.fields:
            return ""
        typed = data.get(column) or ""
        field = self.fields[column]
        if isinstance(field.widget, SecretInput):
            if typed.strip():
                return typed.strip()
            stored = getattr(self.instance, column) if self.instance.pk else ""
            if isinstance(stored, UnreadableSecret):
                # Left out: the backend says whether this auth kind needs it, and the
                # message then says why it is missing.
                self._unreadable.add(column)
                return ""
            return str(stored or "")
        return str(typed).strip()


class ManualPurgeForm(forms.Form):
    """What to purge by hand in the admin; every item is checked before anything is
    written (http(s) URLs or paths, valid tags, bare host names, host/path prefixes)."""

    KIND_CHOICES = [
        (Kind.FILES.value, _("URLs")),
        (Kind.PREFIXES.value, _("Prefixes")),
        (Kind.HOSTS.value, _("Hostnames")),
        (Kind.TAGS.value, _("Cache tags")),
        (Kind.EVERYTHING.value, _("Everything")),
    ]

    kind = forms.ChoiceField(label=_("Purge"), choices=KIND_CHOICES, widget=forms.RadioSelect)
    items = forms.CharField(
        label=_("Items"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text=_("One per line. URLs may be paths (joined with BASE_URLS)."),
    )
    zone = forms.ModelChoiceField(
        label=_("Zone"),
        queryset=Zone.objects.filter(enabled=True),
        required=False,
        empty_label=_("Every zone (routed by hostname)"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        lines = [line.strip() for line in (data.get("items") or "").splitlines() if line.strip()]
        kind = data.get("kind")
        if kind and kind != Kind.EVERYTHING:
            if not lines:
                self.add_error("items", gettext("Enter at least one item, one per line."))
            else:
                errors = []
                for line in lines:
                    try:
                        targets.clean(kind, [line])
                    except InvalidTarget as err:
                        errors.append(str(err))
                if errors:
                    self.add_error("items", errors)
        data["item_list"] = lines
        return data
