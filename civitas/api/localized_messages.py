"""Error messages in the caller's language, as `google.rpc.LocalizedMessage` details.

Citizens meet these through portals: the message is chosen from the caller's
`accept-language` metadata (RFC 9110 section 12.5.4 quality values), English when nothing
matches. The technical `Status.message` stays in English for operators.
"""

from __future__ import annotations

from ledger.errors import (
    Aborted,
    Conflict,
    DomainError,
    FailedPrecondition,
    InvalidInput,
    MalformedRequest,
    NotAllowed,
    NotFound,
    OutOfRange,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

DEFAULT_LOCALE = "en"

MESSAGES: dict[str, dict[type[DomainError], str]] = {
    "en": {
        MalformedRequest: "The service you are using sent a request we could not read.",
        InvalidInput: "Some of the information given is not valid: {fields}.",
        NotFound: "We could not find what you asked for.",
        NotAllowed: "You are not allowed to do this.",
        Unauthenticated: "We could not confirm who you are. Please sign in again.",
        Conflict: "This was already done.",
        Aborted: "Something changed at the same moment. Please try again.",
        Unavailable: "This is not ready yet. Please try again in a moment.",
        FailedPrecondition: "This cannot be done at this stage.",
        OutOfRange: "You asked for more than exists.",
        ResourceExhausted: "Too much is open at once. Please try again in a moment.",
    },
    "et": {
        MalformedRequest: "Teenus, mida kasutate, saatis päringu, mida me ei suutnud lugeda.",
        InvalidInput: "Osa esitatud andmetest ei ole korrektne: {fields}.",
        NotFound: "Me ei leidnud seda, mida otsisite.",
        NotAllowed: "Teil ei ole õigust seda teha.",
        Unauthenticated: "Me ei saanud teie isikut kinnitada. Palun logige uuesti sisse.",
        Conflict: "See on juba tehtud.",
        Aborted: "Samal hetkel muutus midagi. Palun proovige uuesti.",
        Unavailable: "See ei ole veel valmis. Palun proovige hetke pärast uuesti.",
        FailedPrecondition: "Seda ei saa selles etapis teha.",
        OutOfRange: "Küsisite rohkem, kui on olemas.",
        ResourceExhausted: "Liiga palju on korraga avatud. Palun proovige hetke pärast uuesti.",
    },
    "fr": {
        MalformedRequest: "Le service que vous utilisez a envoyé une demande illisible.",
        InvalidInput: "Certaines informations fournies ne sont pas valides : {fields}.",
        NotFound: "Nous n'avons pas trouvé ce que vous avez demandé.",
        NotAllowed: "Vous n'êtes pas autorisé à effectuer cette action.",
        Unauthenticated: "Nous n'avons pas pu confirmer votre identité. Veuillez vous reconnecter.",
        Conflict: "Cette action a déjà été faite.",
        Aborted: "Quelque chose a changé au même moment. Veuillez réessayer.",
        Unavailable: "Ce n'est pas encore prêt. Veuillez réessayer dans un instant.",
        FailedPrecondition: "Cette action n'est pas possible à ce stade.",
        OutOfRange: "Vous avez demandé plus que ce qui existe.",
        ResourceExhausted: "Trop de demandes sont ouvertes. Veuillez réessayer dans un instant.",
    },
}


def choose_locale(accept_language: str) -> str:
    """The best shipped locale for an Accept-Language header (quality values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in MESSAGES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


def localized_message(error: DomainError, locale: str) -> str:
    table = MESSAGES[locale]
    template = next(text for kind, text in table.items() if isinstance(error, kind))
    fields = ", ".join(v.field for v in error.violations) if isinstance(error, InvalidInput) else ""
    return template.format(fields=fields)
