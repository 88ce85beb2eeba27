"""Admin forms: the zone form (secret inputs that never render a stored value) and manual purge."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import credentials as cred
from .exceptions import InvalidCredentials
from .models import CloudflareZone

KEEP_HELP = _("Stored. Leave blank to keep the current value; type a new one to replace it.")


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value, whatever the form holds."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        base = {"autocomplete": "new-password", "spellcheck": "false"}
        super().__init__(attrs={**base, **(attrs or {})}, render_value=False)


class CloudflareZoneForm(forms.ModelForm):
    """Zone form: trims what is pasted, recognises key kinds, keeps stored secrets."""

    api_token = forms.CharField(
        label=_("API token"), required=False, strip=False, widget=SecretInput()
    )
    api_key = forms.CharField(
        label=_("Global API Key"), required=False, strip=False, widget=SecretInput()
    )

    class Meta:
        model = CloudflareZone
        fields = [
            "name",
            "zone_id",
            "account_id",
            "hostnames",
            "auth_kind",
            "api_token",
            "email",
            "api_key",
            "plan",
            "enabled",
        ]
        widgets = {"hostnames": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("api_token", "api_key"):
            if name in self.fields and self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = KEEP_HELP
        if "auth_kind" in self.fields:
            self.fields["auth_kind"].widget = forms.RadioSelect(
                choices=CloudflareZone.AuthKind.choices
            )

    def _clean_with(self, func: Any, value: Any) -> str:
        try:
            return func(value)
        except InvalidCredentials as err:
            raise forms.ValidationError(str(err), code="invalid") from None

    def clean_name(self) -> str:
        return (self.cleaned_data.get("name") or "").strip()

    def clean_zone_id(self) -> str:
        return self._clean_with(cred.clean_identifier, self.cleaned_data.get("zone_id"))

    def clean_account_id(self) -> str:
        value = (self.cleaned_data.get("account_id") or "").strip()
        if not value:
            return ""
        return self._clean_with(
            lambda v: cred.clean_identifier(v, field="account_id", label=cred.ACCOUNT_ID_LABEL),
            value,
        )

    def clean_email(self) -> str:
        return (self.cleaned_data.get("email") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if "api_token" not in self.fields:  # a zone set by the environment: nothing to check
            return data
        kind = data.get("auth_kind") or CloudflareZone.AuthKind.TOKEN
        token_input = (data.get("api_token") or "").strip()
        key_input = (data.get("api_key") or "").strip()
        if kind == CloudflareZone.AuthKind.TOKEN:
            if token_input:
                self._set_clean("api_token", cred.clean_api_token, token_input)
            elif self.instance.api_token:
                data["api_token"] = self.instance.api_token
            else:
                self.add_error("api_token", gettext("Enter the API token."))
            token = data.get("api_token") or ""
            if token and cred.is_account_token(token) and not data.get("account_id"):
                self.add_error(
                    "account_id",
                    gettext(
                        "This is an account-owned API token (cfat_…): enter the Account ID too. "
                        "It is on the zone's Overview page, section “API”."
                    ),
                )
            data["api_key"] = ""
            data["email"] = ""
        else:
            if data.get("email") is not None:
                self._set_clean("email", cred.clean_email, data.get("email"))
            if key_input:
                self._set_clean("api_key", cred.clean_api_key, key_input)
            elif self.instance.api_key:
                data["api_key"] = self.instance.api_key
            else:
                self.add_error("api_key", gettext("Enter the Global API Key."))
            data["api_token"] = ""
        zone_id, account_id = data.get("zone_id"), data.get("account_id")
        if zone_id and account_id and zone_id == account_id:
            self.add_error(
                "zone_id",
                gettext(
                    "The Zone ID and the Account ID are the same: the Account ID was probably "
                    "pasted here. The Zone ID is the first of the two IDs in section “API” of the "
                    "zone's Overview page."
                ),
            )
        return data

    def _set_clean(self, field: str, func: Any, value: Any) -> None:
        try:
            self.cleaned_data[field] = func(value)
        except InvalidCredentials as err:
            self.add_error(field, str(err))


class ManualPurgeForm(forms.Form):
    """What to purge by hand in the admin."""

    KIND_CHOICES = [
        ("files", _("URLs")),
        ("prefixes", _("Prefixes")),
        ("hosts", _("Hostnames")),
        ("tags", _("Cache tags")),
        ("everything", _("Everything")),
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
        queryset=CloudflareZone.objects.filter(enabled=True),
        required=False,
        empty_label=_("Every zone (routed by hostname)"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        items = [line.strip() for line in (data.get("items") or "").splitlines() if line.strip()]
        if data.get("kind") != "everything" and not items:
            self.add_error("items", gettext("Enter at least one item, one per line."))
        data["item_list"] = items
        return data
