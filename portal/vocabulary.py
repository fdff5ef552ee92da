"""The ledger's own words (history kinds, case steps and statuses, changes) for the citizen,
key -> (English, Estonian, French)."""

from __future__ import annotations

# What the ledger's own words mean, for the history: kinds, case steps and statuses.
VOCABULARY: dict[str, tuple[str, str, str]] = {
    "kind.sign_in": ("Sign-in", "Sisselogimine", "Connexion"),
    "kind.session": ("Session", "Seanss", "Session"),
    "kind.identity": ("Your record", "Sinu kirje", "Votre fiche"),
    "kind.transaction": ("Case", "Asi", "Dossier"),
    "kind.data_access": ("Data access", "Andmete vaatamine", "Consultation de données"),
    "kind.factor_added": (
        "Sign-in method added",
        "Sisselogimisviis lisatud",
        "Moyen de connexion ajouté",
    ),
    "kind.factor_removed": (
        "Sign-in method removed",
        "Sisselogimisviis eemaldatud",
        "Moyen de connexion supprimé",
    ),
    "kind.factor_locked": (
        "Sign-in method locked",
        "Sisselogimisviis lukustatud",
        "Moyen de connexion verrouillé",
    ),
    "kind.factor_unlocked": (
        "Sign-in method unlocked",
        "Sisselogimisviis avatud",
        "Moyen de connexion déverrouillé",
    ),
    "kind.activation": ("Activation", "Aktiveerimine", "Activation"),
    "kind.recovery_started": (
        "Account recovery started",
        "Konto taastamine alustatud",
        "Récupération du compte commencée",
    ),
    "kind.recovery_completed": (
        "Account recovery completed",
        "Konto taastamine lõpetatud",
        "Récupération du compte terminée",
    ),
    "kind.recovery_cancelled": (
        "Account recovery cancelled",
        "Konto taastamine tühistatud",
        "Récupération du compte annulée",
    ),
    "kind.session_revoked": ("Session ended", "Seanss lõpetatud", "Session terminée"),
    "step.Submitted": ("submitted", "esitatud", "déposé"),
    "step.ReviewStarted": ("review started", "menetlus alustatud", "examen commencé"),
    "step.InformationRequested": (
        "information requested",
        "teavet küsitud",
        "informations demandées",
    ),
    "step.InformationProvided": ("information provided", "teave esitatud", "informations fournies"),
    "step.ReviewResumed": ("review resumed", "menetlus jätkub", "examen repris"),
    "step.Approved": ("approved", "heaks kiidetud", "approuvé"),
    "step.Rejected": ("rejected", "tagasi lükatud", "rejeté"),
    "step.Completed": ("completed", "lõpetatud", "terminé"),
    "step.Withdrawn": ("withdrawn", "tagasi võetud", "retiré"),
    "status.SUBMITTED": ("Submitted", "Esitatud", "Déposé"),
    "status.IN_REVIEW": ("In review", "Menetluses", "En cours d'examen"),
    "status.INFORMATION_REQUESTED": (
        "Information requested",
        "Teavet küsitud",
        "Informations demandées",
    ),
    "status.APPROVED": ("Approved", "Heaks kiidetud", "Approuvé"),
    "status.REJECTED": ("Rejected", "Tagasi lükatud", "Rejeté"),
    "status.COMPLETED": ("Completed", "Lõpetatud", "Terminé"),
    "status.WITHDRAWN": ("Withdrawn", "Tagasi võetud", "Retiré"),
    # The `change` of a security or identity event (projections' words, the citizen's language).
    "change.password set": ("password set", "parool määratud", "mot de passe défini"),
    "change.authenticator app enrolled": (
        "authenticator app set up",
        "autentimisrakendus seadistatud",
        "application d'authentification configurée",
    ),
    "change.passkey registered": (
        "passkey registered",
        "pääsuvõti registreeritud",
        "clé d'accès enregistrée",
    ),
    "change.recovery codes issued": (
        "recovery codes issued",
        "taastekoodid väljastatud",
        "codes de secours émis",
    ),
    "change.authenticator removed": (
        "sign-in method removed",
        "sisselogimisviis eemaldatud",
        "moyen de connexion supprimé",
    ),
    "change.factor locked after repeated failures": (
        "locked after repeated failures",
        "lukustatud korduvate ebaõnnestumiste järel",
        "verrouillé après des échecs répétés",
    ),
    "change.factor unlocked": ("unlocked", "avatud", "déverrouillé"),
    "change.activation code issued": (
        "activation code issued",
        "aktiveerimiskood väljastatud",
        "code d'activation émis",
    ),
    "change.activation code used": (
        "activation code used",
        "aktiveerimiskood kasutatud",
        "code d'activation utilisé",
    ),
    "change.account recovery started": (
        "account recovery started",
        "konto taastamine alustatud",
        "récupération du compte commencée",
    ),
    "change.account recovery cancelled": (
        "account recovery cancelled",
        "konto taastamine tühistatud",
        "récupération du compte annulée",
    ),
    "change.account recovery completed": (
        "account recovery completed",
        "konto taastamine lõpetatud",
        "récupération du compte terminée",
    ),
    "change.registered": ("registered", "registreeritud", "enregistré"),
    "change.erased": ("erased", "kustutatud", "effacé"),
    "change.revoked": ("ended", "lõpetatud", "terminée"),
    "change.refreshed": ("renewed", "uuendatud", "renouvelée"),
    "session_opened": (
        "Session opened at level {acr} through {service}",
        "Seanss avatud tasemel {acr} teenuse {service} kaudu",
        "Session ouverte au niveau {acr} via {service}",
    ),
    "identity_line": ("Your record: {change}", "Sinu kirje: {change}", "Votre fiche : {change}"),
}
SECURITY_KINDS = tuple(
    key.removeprefix("kind.")
    for key in VOCABULARY
    if key.startswith("kind.")
    and key
    not in ("kind.sign_in", "kind.session", "kind.identity", "kind.transaction", "kind.data_access")
)
