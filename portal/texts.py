"""The portal's own words: key -> (English, Estonian, French). Logic is in portal/i18n.py."""

from __future__ import annotations

# key -> (English, Estonian, French)
TEXTS: dict[str, tuple[str, str, str]] = {
    "service_name": ("Your Civitas account", "Sinu Civitase konto", "Votre compte Civitas"),
    "skip_to_content": ("Skip to main content", "Liigu põhisisu juurde", "Aller au contenu"),
    "language": ("Language", "Keel", "Langue"),
    "nav_label": ("Account menu", "Konto menüü", "Menu du compte"),
    "nav_history": ("My history", "Minu ajalugu", "Mon historique"),
    "nav_account": ("Sign-in methods", "Sisselogimise viisid", "Moyens de connexion"),
    "sign_out": ("Sign out", "Logi välja", "Se déconnecter"),
    "footer": (
        "A reference portal: it reads the ledger only through Civitas' public API.",
        "Näidisportaal: see loeb pearaamatut ainult Civitase avaliku API kaudu.",
        "Portail de référence : il ne lit le registre que par l'API publique de Civitas.",
    ),
    "sign_in": ("Sign in", "Logi sisse", "Se connecter"),
    "sign_in_intro": (
        "Sign in to see everything recorded about you, and who looked at your data.",
        "Logi sisse, et näha kõike, mis sinu kohta on kirjas, ja kes sinu andmeid vaatas.",
        "Connectez-vous pour voir tout ce qui est enregistré à votre sujet, et qui a consulté"
        " vos données.",
    ),
    "step_up_needed": (
        "For your security, please sign in with a second factor first.",
        "Turvalisuse huvides logi palun esmalt sisse teise teguriga.",
        "Pour votre sécurité, veuillez d'abord vous connecter avec un second facteur.",
    ),
    "with_passkey": ("With a passkey", "Pääsuvõtmega", "Avec une clé d'accès"),
    "passkey_hint": (
        "Your device asks for your fingerprint, face or PIN. You do not need your citizen number.",
        "Seade küsib sõrmejälge, nägu või PIN-koodi. Kodanikunumbrit pole vaja.",
        "Votre appareil demande votre empreinte, votre visage ou votre code. Votre numéro de"
        " citoyen n'est pas nécessaire.",
    ),
    "use_passkey": (
        "Sign in with a passkey",
        "Logi sisse pääsuvõtmega",
        "Se connecter avec une clé d'accès",
    ),
    "needs_javascript": (
        "Passkeys need JavaScript in your browser. You can sign in with your password below.",
        "Pääsuvõtmed vajavad brauseris JavaScripti. Saad allpool parooliga sisse logida.",
        "Les clés d'accès nécessitent JavaScript. Vous pouvez vous connecter avec votre mot de"
        " passe ci-dessous.",
    ),
    "with_password": (
        "With your password and authenticator app",
        "Parooli ja autentimisrakendusega",
        "Avec votre mot de passe et votre application d'authentification",
    ),
    "citizen_id": ("Citizen number", "Kodanikunumber", "Numéro de citoyen"),
    "citizen_id_hint": (
        "It is in the letter from your registrar, for example"
        " 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b.",
        "See on registripidaja kirjas, näiteks 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b.",
        "Il figure dans la lettre de votre service d'enregistrement, par exemple"
        " 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b.",
    ),
    "password": ("Password", "Parool", "Mot de passe"),
    "totp_code": (
        "Code from your authenticator app",
        "Autentimisrakenduse kood",
        "Code de votre application d'authentification",
    ),
    "totp_code_hint": (
        "6 digits. Leave it empty if you have not set up an app.",
        "6 numbrit. Jäta tühjaks, kui rakendust pole seadistatud.",
        "6 chiffres. Laissez vide si vous n'avez pas configuré d'application.",
    ),
    "with_recovery_code": ("With a recovery code", "Taastekoodiga", "Avec un code de secours"),
    "recovery_code": ("Recovery code", "Taastekood", "Code de secours"),
    "continue": ("Continue", "Jätka", "Continuer"),
    "activate_link": (
        "First time here? Activate your account with the code from your letter",
        "Esimest korda siin? Aktiveeri konto kirjas oleva koodiga",
        "Première visite ? Activez votre compte avec le code de votre lettre",
    ),
    "activate": ("Activate your account", "Aktiveeri oma konto", "Activer votre compte"),
    "activation_code": ("Activation code", "Aktiveerimiskood", "Code d'activation"),
    "new_password": ("Choose a password", "Vali parool", "Choisissez un mot de passe"),
    "new_password_hint": (
        "At least 12 characters. A few unrelated words are easy to remember.",
        "Vähemalt 12 märki. Mõni omavahel seoseta sõna on kergesti meeldejääv.",
        "Au moins 12 caractères. Quelques mots sans rapport sont faciles à retenir.",
    ),
    "activated": (
        "Your password is set. You can sign in now.",
        "Parool on määratud. Nüüd saad sisse logida.",
        "Votre mot de passe est défini. Vous pouvez vous connecter.",
    ),
    "error_title": ("There is a problem", "Tekkis probleem", "Il y a un problème"),
    "field_required": ("Enter this", "Sisesta see", "Renseignez ce champ"),
    "signed_in_at": (
        "You are signed in at level {acr}.",
        "Oled sisse logitud tasemel {acr}.",
        "Vous êtes connecté au niveau {acr}.",
    ),
    "history_title": ("My history", "Minu ajalugu", "Mon historique"),
    "history_intro": (
        "Everything the ledger holds about you, oldest first: sign-ins, your cases and their"
        " steps, changes to how you sign in, and every time an agency looked at your data.",
        "Kõik, mis pearaamatus sinu kohta on, vanimad eespool: sisselogimised, sinu asjad ja"
        " nende sammud, sisselogimisviiside muutused ja iga kord, kui asutus sinu andmeid vaatas.",
        "Tout ce que le registre contient à votre sujet, du plus ancien au plus récent :"
        " connexions, dossiers et leurs étapes, changements de vos moyens de connexion, et"
        " chaque consultation de vos données par une administration.",
    ),
    "live_notice": (
        "New events appear here as they happen.",
        "Uued sündmused ilmuvad siia kohe.",
        "Les nouveaux événements apparaissent ici dès qu'ils se produisent.",
    ),
    "filters": ("Filter", "Filtreeri", "Filtrer"),
    "kind": ("Kind", "Liik", "Type"),
    "kind_all": ("Everything", "Kõik", "Tout"),
    "kind_sign_in": ("Sign-ins", "Sisselogimised", "Connexions"),
    "kind_transaction": ("Cases", "Asjad", "Dossiers"),
    "kind_data_access": ("Data accesses", "Andmete vaatamised", "Consultations de données"),
    "kind_security": ("Security events", "Turvasündmused", "Événements de sécurité"),
    "kind_session": ("Sessions", "Seansid", "Sessions"),
    "since": ("From (date)", "Alates (kuupäev)", "Du (date)"),
    "until": (
        "Until (date, not included)",
        "Kuni (kuupäev, välja arvatud)",
        "Au (date, non incluse)",
    ),
    "apply": ("Apply", "Rakenda", "Appliquer"),
    "when": ("When", "Millal", "Quand"),
    "what": ("What happened", "Mis juhtus", "Ce qui s'est passé"),
    "proof": ("Proof", "Tõend", "Preuve"),
    "no_items": ("Nothing to show.", "Pole midagi näidata.", "Rien à afficher."),
    "next_page": ("Next page", "Järgmine lehekülg", "Page suivante"),
    "first_page": ("First page", "Esimene lehekülg", "Première page"),
    "items_shown": (
        "{count} items on this page",
        "Sellel leheküljel {count} kirjet",
        "{count} éléments sur cette page",
    ),
    "security_tag": ("Security", "Turvalisus", "Sécurité"),
    "receipt": ("Receipt", "Kviitung", "Reçu"),
    "receipt_download": ("Download receipt", "Laadi kviitung alla", "Télécharger le reçu"),
    "verify": ("Verify", "Kontrolli", "Vérifier"),
    "not_me": ("This wasn't me", "See polnud mina", "Ce n'était pas moi"),
    "open_case": ("See the case", "Vaata asja", "Voir le dossier"),
    "download_all": (
        "Download my whole history (CSV and receipts, zip)",
        "Laadi alla kogu ajalugu (CSV ja kviitungid, zip)",
        "Télécharger tout mon historique (CSV et reçus, zip)",
    ),
    "print": ("Print this page", "Prindi see lehekülg", "Imprimer cette page"),
    "sign_in_ok": (
        "Signed in ({methods}, level {acr}) through {service}",
        "Sisse logitud ({methods}, tase {acr}) teenuse {service} kaudu",
        "Connexion ({methods}, niveau {acr}) via {service}",
    ),
    "sign_in_failed": (
        "Failed sign-in ({reason}) through {service}",
        "Ebaõnnestunud sisselogimine ({reason}) teenuse {service} kaudu",
        "Échec de connexion ({reason}) via {service}",
    ),
    "data_access_line": (
        "{agency} read your {resource}. Purpose: {purpose}",
        "{agency} vaatas sinu andmeid ({resource}). Eesmärk: {purpose}",
        "{agency} a consulté vos données ({resource}). Finalité : {purpose}",
    ),
    "transaction_line": (
        "Case {reference} ({service}): {step}",
        "Asi {reference} ({service}): {step}",
        "Dossier {reference} ({service}) : {step}",
    ),
    "security_line": ("{change} (by {by})", "{change} (tegija {by})", "{change} (par {by})"),
    "session_line": ("Session {change}", "Seanss: {change}", "Session : {change}"),
    "reason": ("Reason", "Põhjus", "Motif"),
    "case_title": ("Case {reference}", "Asi {reference}", "Dossier {reference}"),
    "status": ("Status", "Olek", "Statut"),
    "service": ("Service", "Teenus", "Service"),
    "agency": ("Agency", "Asutus", "Administration"),
    "submitted": ("Submitted", "Esitatud", "Déposé"),
    "decided": ("Decided", "Otsustatud", "Décidé"),
    "steps": ("Steps", "Sammud", "Étapes"),
    "withdraw": ("Withdraw this case", "Võta asi tagasi", "Retirer ce dossier"),
    "withdraw_reason": (
        "Why are you withdrawing it?",
        "Miks sa selle tagasi võtad?",
        "Pourquoi le retirez-vous ?",
    ),
    "provide_info": (
        "Provide the information asked for",
        "Esita küsitud teave",
        "Fournir les informations demandées",
    ),
    "provide_note": ("Your answer", "Sinu vastus", "Votre réponse"),
    "send": ("Send", "Saada", "Envoyer"),
    "case_updated": ("The case is updated.", "Asi on uuendatud.", "Le dossier est mis à jour."),
    "account_title": ("How you sign in", "Kuidas sa sisse logid", "Vos moyens de connexion"),
    "totp_section": ("Authenticator app", "Autentimisrakendus", "Application d'authentification"),
    "totp_start": (
        "Set up an authenticator app",
        "Seadista autentimisrakendus",
        "Configurer une application d'authentification",
    ),
    "totp_scan": (
        "Scan this QR code with your authenticator app, or type the key below into it.",
        "Skaneeri see QR-kood autentimisrakendusega või sisesta allolev võti käsitsi.",
        "Scannez ce code QR avec votre application, ou saisissez la clé ci-dessous.",
    ),
    "totp_qr": (
        "QR code for your authenticator app",
        "QR-kood autentimisrakenduse jaoks",
        "Code QR pour votre application d'authentification",
    ),
    "totp_secret": ("Key", "Võti", "Clé"),
    "totp_confirm": (
        "Enter the code your app shows now",
        "Sisesta kood, mida rakendus praegu näitab",
        "Saisissez le code affiché par votre application",
    ),
    "totp_done": (
        "Your authenticator app is set up.",
        "Autentimisrakendus on seadistatud.",
        "Votre application d'authentification est configurée.",
    ),
    "passkey_section": ("Passkeys", "Pääsuvõtmed", "Clés d'accès"),
    "passkey_label": ("Name for this passkey", "Pääsuvõtme nimi", "Nom de cette clé d'accès"),
    "passkey_label_hint": (
        "For example: my laptop",
        "Näiteks: minu sülearvuti",
        "Par exemple : mon ordinateur portable",
    ),
    "passkey_add": ("Add a passkey", "Lisa pääsuvõti", "Ajouter une clé d'accès"),
    "passkey_done": (
        "Your passkey is added.",
        "Pääsuvõti on lisatud.",
        "Votre clé d'accès est ajoutée.",
    ),
    "passkey_failed": (
        "The passkey could not be used. Please try again.",
        "Pääsuvõtit ei saanud kasutada. Proovi uuesti.",
        "La clé d'accès n'a pas pu être utilisée. Veuillez réessayer.",
    ),
    "recovery_section": ("Recovery codes", "Taastekoodid", "Codes de secours"),
    "recovery_issue": (
        "Get new recovery codes",
        "Hangi uued taastekoodid",
        "Obtenir de nouveaux codes de secours",
    ),
    "recovery_hint": (
        "New codes replace any you had. Each works once.",
        "Uued koodid asendavad varasemad. Iga koodi saab kasutada ühe korra.",
        "Les nouveaux codes remplacent les anciens. Chacun ne sert qu'une fois.",
    ),
    "recovery_shown_once": (
        "Write these codes down or print them now. We will not show them again.",
        "Kirjuta need koodid üles või prindi kohe. Me ei näita neid uuesti.",
        "Notez ou imprimez ces codes maintenant. Nous ne les afficherons plus.",
    ),
    "sessions_section": (
        "Where you are signed in",
        "Kus sa oled sisse logitud",
        "Où vous êtes connecté",
    ),
    "session_started": ("Started", "Algus", "Début"),
    "level": ("Level", "Tase", "Niveau"),
    "this_session": ("this session", "see seanss", "cette session"),
    "end_session": ("End", "Lõpeta", "Terminer"),
    "not_me_title": (
        "We have signed you out everywhere",
        "Logisime sind kõikjal välja",
        "Nous vous avons déconnecté partout",
    ),
    "not_me_done": (
        "Every session of yours has ended, and your report is recorded in your history."
        " Sign in again and change how you sign in: set up new recovery codes and remove"
        " anything you do not recognise.",
        "Kõik sinu seansid on lõpetatud ja sinu teade on ajalukku kirjutatud. Logi uuesti sisse"
        " ja muuda sisselogimise viise: hangi uued taastekoodid ja eemalda kõik, mida sa ei"
        " tunne.",
        "Toutes vos sessions sont terminées et votre signalement est inscrit dans votre"
        " historique. Reconnectez-vous et changez vos moyens de connexion : obtenez de"
        " nouveaux codes de secours et supprimez ce que vous ne reconnaissez pas.",
    ),
    "verify_title": ("Verify it yourself", "Kontrolli ise", "Vérifiez vous-même"),
    "verify_intro": (
        "Your browser checks this receipt on its own, with a small script you can read"
        " ({script}). It trusts nothing this portal says.",
        "Sinu brauser kontrollib kviitungit ise, väikese skriptiga, mida saad lugeda"
        " ({script}). See ei usalda midagi, mida see portaal ütleb.",
        "Votre navigateur vérifie ce reçu seul, avec un petit script que vous pouvez lire"
        " ({script}). Il ne fait confiance à rien de ce que dit ce portail.",
    ),
    "verify_button": (
        "Verify in this browser",
        "Kontrolli selles brauseris",
        "Vérifier dans ce navigateur",
    ),
    "verify_file": (
        "Or choose a receipt file",
        "Või vali kviitungifail",
        "Ou choisissez un fichier de reçu",
    ),
    "verify_pinned": (
        "Published checkpoint key",
        "Avaldatud kontrollpunkti võti",
        "Clé de point de contrôle publiée",
    ),
    "verify_no_pin": (
        "No published key is configured: the receipt is checked against the keys it carries.",
        "Avaldatud võtit pole seadistatud: kviitungit kontrollitakse selles olevate võtmetega.",
        "Aucune clé publiée n'est configurée : le reçu est vérifié avec les clés qu'il contient.",
    ),
    "verify_needs_js": (
        "Checking in the browser needs JavaScript. You can check the file with"
        " civitas-verify receipt.",
        "Brauseris kontrollimiseks on vaja JavaScripti. Faili saab kontrollida"
        " käsuga civitas-verify receipt.",
        "La vérification dans le navigateur nécessite JavaScript. Vous pouvez"
        " vérifier le fichier avec civitas-verify receipt.",
    ),
    "verify_result": ("Result", "Tulemus", "Résultat"),
    "verified_ok": (
        "Verified. This event is in the ledger exactly as shown.",
        "Kontrollitud. See sündmus on pearaamatus täpselt nii, nagu näidatud.",
        "Vérifié. Cet événement figure dans le registre exactement comme affiché.",
    ),
    "verified_failed": (
        "Not verified. Do not trust this receipt.",
        "Ei läinud kontrolli läbi. Ära seda kviitungit usalda.",
        "Non vérifié. Ne vous fiez pas à ce reçu.",
    ),
    "check_signature": (
        "The event was signed by the ledger's key {kid}, valid at {at}.",
        "Sündmuse allkirjastas pearaamatu võti {kid}, mis kehtis ajal {at}.",
        "L'événement a été signé par la clé {kid} du registre, valide le {at}.",
    ),
    "check_payload": (
        "Its content matches the fingerprint that was signed.",
        "Selle sisu vastab allkirjastatud sõrmejäljele.",
        "Son contenu correspond à l'empreinte signée.",
    ),
    "check_payload_erased": (
        "Its content was erased at your request; the fingerprint still stands.",
        "Selle sisu kustutati sinu soovil; sõrmejälg jääb alles.",
        "Son contenu a été effacé à votre demande ; l'empreinte demeure.",
    ),
    "check_inclusion": (
        "It is entry number {index} of a ledger of {size} entries: the path to the ledger's"
        " root hash checks out.",
        "See on kirje number {index} pearaamatus, kus on {size} kirjet: tee juurräsini klapib.",
        "C'est l'entrée numéro {index} d'un registre de {size} entrées : le chemin jusqu'à"
        " l'empreinte racine est correct.",
    ),
    "check_checkpoint": (
        "That root was signed by the ledger {origin} with the key {key}.",
        "Selle juure allkirjastas pearaamat {origin} võtmega {key}.",
        "Cette racine a été signée par le registre {origin} avec la clé {key}.",
    ),
    "check_pinned": (
        "That key is the one the operator publishes.",
        "See võti on sama, mille haldaja avaldab.",
        "Cette clé est celle que publie l'opérateur.",
    ),
    "check_unpinned": (
        "That key came with the receipt itself: compare it with the one the operator publishes.",
        "See võti tuli kviitungiga endaga: võrdle seda haldaja avaldatud võtmega.",
        "Cette clé accompagne le reçu : comparez-la avec celle que publie l'opérateur.",
    ),
    "check_witnesses": (
        "{count} witnesses cosigned that root.",
        "{count} tunnistajat kaasallkirjastasid selle juure.",
        "{count} témoins ont cosigné cette racine.",
    ),
    "check_no_witnesses": (
        "No witness this portal knows cosigned it.",
        "Ükski sellele portaalile teadaolev tunnistaja ei ole seda kaasallkirjastanud.",
        "Aucun témoin connu de ce portail ne l'a cosigné.",
    ),
    "verify_witnesses": (
        "Witnesses whose cosignatures are checked",
        "Tunnistajad, kelle kaasallkirju kontrollitakse",
        "Témoins dont les cosignatures sont vérifiées",
    ),
    "check_failed": ("Failed: {why}", "Ebaõnnestus: {why}", "Échec : {why}"),
    "not_found_title": ("Page not found", "Lehte ei leitud", "Page introuvable"),
    "forbidden_title": ("This form has expired", "See vorm on aegunud", "Ce formulaire a expiré"),
    "forbidden_text": (
        "Please go back, reload the page and try again.",
        "Mine tagasi, laadi leht uuesti ja proovi uuesti.",
        "Revenez en arrière, rechargez la page et réessayez.",
    ),
    "unavailable": (
        "The service is not available right now. Please try again in a moment.",
        "Teenus pole praegu saadaval. Proovi hetke pärast uuesti.",
        "Le service n'est pas disponible pour le moment. Réessayez dans un instant.",
    ),
}
