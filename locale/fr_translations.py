"""French for every message of Nuage: `make messages` re-extracts and fills the catalogue."""

FR: dict[str, str | tuple[str, str]] = {
    "environment": "environnement",
    "user": "utilisateur",
    "flavor": "gabarit",
    "image": "image",
    "Unknown %(what)s.": "%(what)s inconnu(e).",
    "host": "hôte",
    "Pending approval": "En attente d’approbation",
    "Rejected": "Refusée",
    "Provisioning": "En création",
    "Running": "En marche",
    "Stopping": "En arrêt",
    "Stopped": "Arrêtée",
    "Starting": "En démarrage",
    "Rebooting": "En redémarrage",
    "Deleting": "En suppression",
    "Deleted": "Supprimée",
    "Migrating": "En migration",
    "Restarting on another host": "Redémarrage sur un autre hôte",
    "Error": "Erreur",
    "Approve": "Approuver",
    "Reject": "Refuser",
    "Provisioned": "Créée",
    "Stop": "Arrêter",
    "Start": "Démarrer",
    "Started": "Démarrée",
    "Reboot": "Redémarrer",
    "Rebooted": "Redémarrée",
    "Delete": "Supprimer",
    "Migrate": "Migrer",
    "Migrated": "Migrée",
    "Migration aborted": "Migration abandonnée",
    "Lose host": "Perdre l’hôte",
    "Restart on another host": "Redémarrer sur un autre hôte",
    "Recovered": "Rétablie",
    "Host back, VM powered off": "Hôte revenu, VM éteinte",
    "Host back, VM running": "Hôte revenu, VM en marche",
    "Lose domain": "Perdre le domaine",
    "Adopt running": "Adopter en marche",
    "Adopt stopped": "Adopter arrêtée",
    "Fail": "Échouer",
    "Unknown": "Inconnu",
    "No domain": "Pas de domaine",
    "Blocked": "Bloqué",
    "Paused": "En pause",
    "Shutting down": "En extinction",
    "Shut off": "Éteint",
    "Crashed": "Planté",
    "Suspended": "Suspendu",
    "Provision": "Création",
    "Live migration": "Migration à chaud",
    "Restart after host failure": "Redémarrage après panne d’hôte",
    "Pending": "En attente",
    "Succeeded": "Réussie",
    "Failed": "Échouée",
    "Done": "Fait",
    "Scheduled": "Planifiée",
    "Creating disk": "Création du disque",
    "Defining": "Définition",
    "Removing domain": "Suppression du domaine",
    "Removing disk": "Suppression du disque",
    "Preparing target host": "Préparation de l’hôte cible",
    "Migrating memory and disk": "Migration de la mémoire et du disque",
    "Removing source disk": "Suppression du disque source",
    "Disk image (qcow2 base volume)": "Image disque (volume qcow2 de base)",
    "Direct kernel boot (kernel + initrd)": "Démarrage direct du noyau (noyau + initrd)",
    "QEMU (TCG emulation)": "QEMU (émulation TCG)",
    "KVM": "KVM",
    "Environment": "Environnement",
    "Flavor": "Gabarit",
    "Image": "Image",
    "Name": "Nom",
    "Lowercase letters, digits and hyphens, unique in the tenant.": "Lettres minuscules, chiffres et tirets, unique dans le tenant.",
    "SSH public key": "Clé publique SSH",
    "Reason": "Motif",
    "Use 1-63 lowercase letters, digits and hyphens; start and end with a letter or digit.": "Utilisez de 1 à 63 lettres minuscules, chiffres et tirets ; commencez et finissez "
    "par une lettre ou un chiffre.",
    "Use a libvirt URI starting with qemu://, qemu+tcp://, qemu+ssh://, qemu+tls:// or test:// "
    "(for example qemu:///system).": "Utilisez une URI libvirt commençant par qemu://, qemu+tcp://, qemu+ssh://, "
    "qemu+tls:// ou test:// (par exemple qemu:///system).",
    "A test URI names a node file or 'default': test:///default.": "Une URI de test nomme un fichier de nœud ou « default » : test:///default.",
    "End a QEMU URI with /system or /session, as in qemu+ssh://root@host/system.": "Terminez une URI QEMU par /system ou /session, comme qemu+ssh://root@hote/system.",
    "Name the remote host in the URI, as in %(example)s.": "Nommez l’hôte distant dans l’URI, comme %(example)s.",
    "Give the tags as a list of words.": "Donnez les étiquettes sous forme de liste de mots.",
    "Tags are 1-63 lowercase letters, digits and the signs _ . : - (for example "
    "env:production); not %(bad)s.": "Les étiquettes font de 1 à 63 lettres minuscules, chiffres et signes _ . : - "
    "(par exemple env:production) ; pas %(bad)s.",
    "Empty: the platform default.": "Vide : la valeur par défaut de la plateforme.",
    "libvirt URI": "URI libvirt",
    "peer URI": "URI des pairs",
    "storage pool capacity (GiB)": "capacité du pool de stockage (Gio)",
    "CPU overcommit ratio": "taux de surallocation CPU",
    "RAM overcommit ratio": "taux de surallocation mémoire",
    "disk overcommit ratio": "taux de surallocation disque",
    "Cancelled": "Annulée",
    "%(n)s disabled": ("%(n)s désactivé", "%(n)s désactivés"),
    "%(n)s down": ("%(n)s hors service", "%(n)s hors service"),
    "%(n)s reserved for other environments or missing a required tag": (
        "%(n)s réservé à d’autres environnements ou sans une étiquette requise",
        "%(n)s réservés à d’autres environnements ou sans une étiquette requise",
    ),
    "%(n)s already running a VM of the same anti-affinity group": (
        "%(n)s fait déjà tourner une VM du même groupe d’anti-affinité",
        "%(n)s font déjà tourner une VM du même groupe d’anti-affinité",
    ),
    "%(n)s without enough vCPUs": ("%(n)s sans assez de vCPU", "%(n)s sans assez de vCPU"),
    "%(n)s without enough memory": (
        "%(n)s sans assez de mémoire",
        "%(n)s sans assez de mémoire",
    ),
    "%(n)s without enough disk": ("%(n)s sans assez de disque", "%(n)s sans assez de disque"),
    "it is disabled or in maintenance": "il est désactivé ou en maintenance",
    "it is down": "il est hors service",
    "it is reserved for other environments or lacks a required tag": "il est réservé à d’autres environnements ou n’a pas une étiquette requise",
    "it already runs a VM of the same anti-affinity group": "il fait déjà tourner une VM du même groupe d’anti-affinité",
    "it does not have room for the vCPUs": "il n’a pas de place pour les vCPU",
    "it does not have room for the memory": "il n’a pas de place pour la mémoire",
    "it does not have room for the disk": "il n’a pas de place pour le disque",
    "Host %(host)s cannot take this VM: %(why)s.": "L’hôte %(host)s ne peut pas accueillir cette VM : %(why)s.",
    "%(vcpus)s vCPU, %(ram)s MiB RAM, %(disk)s GiB disk": "%(vcpus)s vCPU, %(ram)s Mio de mémoire, %(disk)s Gio de disque",
    "No host can take this VM (%(asked)s): no host is registered.": "Aucun hôte ne peut accueillir cette VM (%(asked)s) : aucun hôte n’est enregistré.",
    "No host can take this VM (%(asked)s) right now. Hosts: %(reasons)s.": "Aucun hôte ne peut accueillir cette VM (%(asked)s) pour l’instant. "
    "Hôtes : %(reasons)s.",
    "gone": "disparue",
    "Cannot %(action)s a VM that is %(state)s.": "Impossible de faire « %(action)s » sur une VM dans l’état « %(state)s ».",
    "Unknown flavor.": "Gabarit inconnu.",
    "No host can fit this flavor (%(vcpus)s vCPU, %(ram)s MiB RAM).": "Aucun hôte ne peut accueillir ce gabarit (%(vcpus)s vCPU, %(ram)s Mio de mémoire).",
    "Unknown image.": "Image inconnue.",
    "A VM named '%(name)s' already exists in this tenant.": "Une VM nommée « %(name)s » existe déjà dans ce tenant.",
    "Nobody may approve their own request.": "Personne ne peut approuver sa propre demande.",
    "Give the requester a reason for the rejection.": "Donnez au demandeur le motif du refus.",
    "Keep the reason under 2,000 characters.": "Le motif doit faire moins de 2 000 caractères.",
    "Unknown action.": "Action inconnue.",
    "Only a running VM can be live-migrated; this one is %(state)s.": "Seule une VM en marche peut être migrée à chaud ; celle-ci est « %(state)s ».",
    "The VM already runs on %(host)s.": "La VM tourne déjà sur %(host)s.",
    "Placed on host %(host)s.": "Placée sur l’hôte %(host)s.",
    "Disk %(path)s ready.": "Disque %(path)s prêt.",
    "Domain defined.": "Domaine défini.",
    "Existing domain adopted.": "Domaine existant repris.",
    "Domain running.": "Domaine en marche.",
    "Guest shut down.": "Invité éteint.",
    "Guest did not shut down in time; powered off.": "L’invité ne s’est pas éteint à temps ; alimentation coupée.",
    "Reboot requested.": "Redémarrage demandé.",
    "Nothing to remove.": "Rien à supprimer.",
    "Domain removed.": "Domaine supprimé.",
    "No domain to remove.": "Aucun domaine à supprimer.",
    "Disk removed.": "Disque supprimé.",
    "No disk to remove.": "Aucun disque à supprimer.",
    "Disk ready on %(host)s.": "Disque prêt sur %(host)s.",
    "Already running on %(host)s.": "Tourne déjà sur %(host)s.",
    "Running on %(host)s after %(seconds).1f s.": "En marche sur %(host)s après %(seconds).1f s.",
    "Source disk removed.": "Disque source supprimé.",
    "Disks already reachable from %(host)s (shared storage).": "Disques déjà accessibles depuis %(host)s (stockage partagé).",
    "Nothing to remove: the disks are on shared storage.": "Rien à supprimer : les disques sont sur le stockage partagé.",
    "This VM's volume %(volume)s is %(state)s: move the VM once it is in use or detached.": "Le volume %(volume)s de cette VM est en état « %(state)s » : déplacez la VM une fois qu’il est utilisé ou détaché.",
    "No source disk to remove.": "Aucun disque source à supprimer.",
    "Cleanup on the host failed too (%(error)s); delete the VM to retry.": "Le nettoyage sur l’hôte a aussi échoué (%(error)s) ; supprimez la VM pour réessayer.",
    "Removing the disk copy on %(host)s failed too (%(error)s).": "La suppression de la copie du disque sur %(host)s a aussi échoué (%(error)s).",
    "A rolling maintenance is already running.": "Une maintenance tournante est déjà en cours.",
    "A rolling maintenance needs two hosts up or more: the VMs need somewhere to go.": "Une maintenance tournante demande au moins deux hôtes en service : les VM doivent "
    "pouvoir aller quelque part.",
    "This rolling maintenance is over.": "Cette maintenance tournante est terminée.",
    "%(host)s still has %(n)s VM; it can go back once it is empty.": (
        "%(host)s a encore %(n)s VM ; il pourra revenir une fois vide.",
        "%(host)s a encore %(n)s VM ; il pourra revenir une fois vide.",
    ),
    "Host %(host)s stopped answering.": "L’hôte %(host)s ne répond plus.",
    "its disk is on the host's local storage": "son disque est sur le stockage local de l’hôte",
    "no other host with the shared storage has room": "aucun autre hôte partageant le stockage n’a de place",
    "%(lost)s The VM cannot be restarted elsewhere: %(why)s.": "%(lost)s La VM ne peut pas redémarrer ailleurs : %(why)s.",
    "This field cannot be changed.": "Ce champ ne peut pas être modifié.",
    "A disk image needs its base volume's name.": "Une image disque a besoin du nom de son volume de base.",
    "A kernel image needs the kernel's path.": "Une image noyau a besoin du chemin du noyau.",
    "No unknown domain with this UUID on %(host)s.": "Aucun domaine inconnu avec cet UUID sur %(host)s.",
    "This domain is what is left of a deleted VM: destroy it instead.": "Ce domaine est le reste d’une VM supprimée : détruisez-le plutôt.",
    "The owner must be a member of the tenant.": "Le propriétaire doit être membre du tenant.",
    "The VM's domain disappeared from host %(host)s.": "Le domaine de la VM a disparu de l’hôte %(host)s.",
    "The operation made no progress after %(n)s attempts.": "L’opération n’a pas progressé après %(n)s tentatives.",
    "The operation was lost.": "L’opération a été perdue.",
    "Request sent: %(name)s waits for an approver.": "Demande envoyée : %(name)s attend un approbateur.",
    "%(name)s is being provisioned.": "%(name)s est en cours de création.",
    "%(action)s of %(name)s requested.": "« %(action)s » demandé pour %(name)s.",
    "%(name)s approved; provisioning starts.": "%(name)s approuvée ; la création commence.",
    "%(name)s rejected.": "%(name)s refusée.",
    "Rolling maintenance started: the first host is being emptied.": "Maintenance tournante lancée : le premier hôte est en cours de vidage.",
    "Host returned to the pool; the next one is being emptied.": "Hôte remis dans le pool ; le suivant est en cours de vidage.",
    "Rolling maintenance cancelled; the current host stays in maintenance.": "Maintenance tournante annulée ; l’hôte en cours reste en maintenance.",
    "%(host)s is back in the pool.": "%(host)s est de retour dans le pool.",
    "%(host)s is in maintenance; %(left)s VM found no room on another host yet and will move "
    "when room appears.": (
        "%(host)s est en maintenance ; %(left)s VM n’a pas encore trouvé de place sur un autre "
        "hôte et partira dès qu’il y en aura.",
        "%(host)s est en maintenance ; %(left)s VM n’ont pas encore trouvé de place sur un "
        "autre hôte et partiront dès qu’il y en aura.",
    ),
    "%(host)s is in maintenance: %(started)s VM is moving away.": (
        "%(host)s est en maintenance : %(started)s VM est en cours de départ.",
        "%(host)s est en maintenance : %(started)s VM sont en cours de départ.",
    ),
    "Unknown host.": "Hôte inconnu.",
    "Live migration of %(name)s started.": "Migration à chaud de %(name)s lancée.",
    "Unable to log in with the username and password given.": "Connexion impossible avec ce nom d’utilisateur et ce mot de passe.",
    "Member": "Membre",
    "Approver": "Approbateur",
    "Tenant admin": "Administrateur du tenant",
    "None": "Aucun",
    "Platform admin": "Administrateur de la plateforme",
    "Finance": "Finance",
    "Delivered": "Livrée",
    "[Nuage] %(vm)s waits for your approval": "[Nuage] %(vm)s attend votre approbation",
    "%(owner)s asks for %(vm)s in %(tenant)s/%(env)s (%(flavor)s).": "%(owner)s demande %(vm)s dans %(tenant)s/%(env)s (%(flavor)s).",
    "[Nuage] %(vm)s was approved": "[Nuage] %(vm)s a été approuvée",
    "%(vm)s in %(tenant)s/%(env)s was approved; it is being built.": "%(vm)s dans %(tenant)s/%(env)s a été approuvée ; elle est en cours de création.",
    "[Nuage] %(vm)s was rejected": "[Nuage] %(vm)s a été refusée",
    "%(vm)s was rejected. Reason: %(reason)s": "%(vm)s a été refusée. Motif : %(reason)s",
    "[Nuage] %(vm)s is running": "[Nuage] %(vm)s est en marche",
    "%(vm)s in %(tenant)s/%(env)s is running.": "%(vm)s dans %(tenant)s/%(env)s est en marche.",
    "[Nuage] %(vm)s failed": "[Nuage] %(vm)s a échoué",
    "%(vm)s is in error: %(error)s": "%(vm)s est en erreur : %(error)s",
    "No answer: %(reason)s": "Pas de réponse : %(reason)s",
    "Your role in this tenant does not allow this action.": "Votre rôle dans ce tenant ne permet pas cette action.",
    "Only platform admins can do this.": "Seuls les administrateurs de la plateforme peuvent faire cela.",
    "Unknown platform role.": "Rôle de plateforme inconnu.",
    "Unknown role.": "Rôle inconnu.",
    "This user is already a member of the tenant.": "Cet utilisateur est déjà membre du tenant.",
    "%(user)s is the tenant's last admin: make someone else admin first.": "%(user)s est le dernier administrateur du tenant : nommez d’abord quelqu’un d’autre.",
    "Give the token a name, to recognise it later.": "Donnez un nom au jeton, pour le reconnaître plus tard.",
    "At most 100 characters.": "100 caractères au plus.",
    "The expiry must be in the future.": "L’expiration doit être dans le futur.",
    "A token lives at most %(days)s days.": "Un jeton vit au plus %(days)s jours.",
    "Only the token's owner can revoke it.": "Seul le propriétaire du jeton peut le révoquer.",
    "This token is already revoked.": "Ce jeton est déjà révoqué.",
    "Invalid token.": "Jeton invalide.",
    "This token was revoked.": "Ce jeton a été révoqué.",
    "This token expired on %(date)s.": "Ce jeton a expiré le %(date)s.",
    "The token's user is disabled.": "L’utilisateur du jeton est désactivé.",
    "The tenant already has an environment with this name.": "Le tenant a déjà un environnement de ce nom.",
    "Give an http:// or https:// URL with a host name.": "Donnez une URL http:// ou https:// avec un nom d’hôte.",
    "This is not a valid URL.": "Ce n’est pas une URL valide.",
    "Unknown events: %(names)s. Known: %(known)s.": "Événements inconnus : %(names)s. Connus : %(known)s.",
    "Too many failed login attempts. Try again in %(minutes)s minutes, or ask an admin.": "Trop d’échecs de connexion. Réessayez dans %(minutes)s minutes, ou demandez à un "
    "administrateur.",
    "Choose one of the lifetimes offered.": "Choisissez l’une des durées proposées.",
    "Token %(name)s revoked.": "Jeton %(name)s révoqué.",
    "Your session has ended: this page no longer updates. Reload it to log in again.": "Votre session a pris fin : cette page ne se met plus à jour. Rechargez-la pour vous "
    "reconnecter.",
    "My VMs": "Mes VM",
    "Request a VM": "Demander une VM",
    "Approvals": "Approbations",
    "Audit log": "Journal d’audit",
    "Hosts": "Hôtes",
    "Administration": "Administration",
    "API": "API",
    "API tokens": "Jetons d’API",
    "Log out": "Se déconnecter",
    "Language": "Langue",
    "State": "État",
    "Host": "Hôte",
    "libvirt reports": "libvirt indique",
    "%(owner)s asks for this VM. Approve it, or reject it with a reason they will see.": "%(owner)s demande cette VM. Approuvez-la, ou refusez-la avec un motif qui lui sera "
    "montré.",
    "An approver of %(tenant)s must accept this request before it is built in "
    "%(environment)s. This page follows it: there is no need to reload.": "Un approbateur de %(tenant)s doit accepter cette demande avant sa création en "
    "%(environment)s. Cette page la suit : inutile de recharger.",
    "This VM has been deleted; its disk is gone.": "Cette VM a été supprimée ; son disque n’existe plus.",
    "Back to my VMs": "Retour à mes VM",
    "by %(approver)s": "par %(approver)s",
    "queued": "en file d’attente",
    "in progress": "en cours",
    "done": "terminée",
    "failed": "échouée",
    "Requested": "Demandée",
    "Withdraw this request?": "Retirer cette demande ?",
    "Delete this VM and its disk?": "Supprimer cette VM et son disque ?",
    "Reason for rejection": "Motif du refus",
    "Withdraw request": "Retirer la demande",
    "Dismiss": "Écarter",
    "Live-migrate to": "Migrer à chaud vers",
    "the best other host": "le meilleur autre hôte",
    "Tenant": "Tenant",
    "Owner": "Propriétaire",
    "No virtual machines here.": "Aucune machine virtuelle ici.",
    "Request one": "En demander une",
    "Requests waiting for approval": "Demandes en attente d’approbation",
    "Requested by": "Demandée par",
    "Decision": "Décision",
    "%(vcpus)s vCPU · %(ram)s MiB · %(disk)s GiB": "%(vcpus)s vCPU · %(ram)s Mio · %(disk)s Gio",
    "%(ago)s ago": "il y a %(ago)s",
    "Your own request: another approver decides.": "Votre propre demande : un autre approbateur décide.",
    "Nothing waits for your approval.": "Rien n’attend votre approbation.",
    "New requests for environments that need approval appear here.": "Les nouvelles demandes pour les environnements soumis à approbation apparaissent ici.",
    "Hosts and capacity": "Hôtes et capacité",
    "Pool": "Pool",
    "%(vms)s VM placed.": ("%(vms)s VM placée.", "%(vms)s VM placées."),
    "Memory allocated": "Mémoire allouée",
    "vCPU allocated": "vCPU alloués",
    "Rolling maintenance": "Maintenance tournante",
    "Host %(pos)s of %(total)s: %(host)s.": "Hôte %(pos)s sur %(total)s : %(host)s.",
    "It is empty: do its maintenance, then let the next host go.": "Il est vide : faites sa maintenance, puis passez à l’hôte suivant.",
    "Its VMs are moving away.": "Ses VM sont en cours de départ.",
    "Done, next host": "Terminé, hôte suivant",
    "Cancel": "Annuler",
    "Takes every host through maintenance, one at a time: its VMs move away, you do the work, "
    "it returns, the next one goes.": "Fait passer chaque hôte en maintenance, un à la fois : ses VM partent, vous faites "
    "le travail, il revient, le suivant part.",
    "Start rolling maintenance": "Lancer la maintenance tournante",
    "Status": "Statut",
    "VMs": "VM",
    "Maintenance": "Maintenance",
    "%(n)s domain Nuage does not know (adopt or destroy it through the API)": (
        "%(n)s domaine inconnu de Nuage (adoptez-le ou détruisez-le par l’API)",
        "%(n)s domaines inconnus de Nuage (adoptez-les ou détruisez-les par l’API)",
    ),
    "up": "en service",
    "down": "hors service",
    "disabled": "désactivé",
    "ready for maintenance": "prêt pour la maintenance",
    "entering maintenance": "entrée en maintenance",
    "unreachable": "injoignable",
    "%(n)s running": "%(n)s en marche",
    "Leave maintenance": "Sortir de maintenance",
    "Enter maintenance": "Mettre en maintenance",
    "No hosts yet: register one through the API (POST /api/v1/hosts/) or the administration.": "Aucun hôte pour l’instant : enregistrez-en un par l’API (POST /api/v1/hosts/) ou "
    "l’administration.",
    "SSH key": "Clé SSH",
    "Decided by": "Décidée par",
    "Virtual machines": "Machines virtuelles",
    "The request was not sent. Correct the fields marked below.": "La demande n’a pas été envoyée. Corrigez les champs signalés ci-dessous.",
    "optional": "facultatif",
    "Submit request": "Envoyer la demande",
    "User": "Utilisateur",
    "Action": "Action",
    "Object type": "Type d’objet",
    "Object id": "Identifiant d’objet",
    "Since": "Depuis",
    "Until": "Jusqu’à",
    "Filter": "Filtrer",
    "Export CSV": "Exporter en CSV",
    "When": "Quand",
    "Who": "Qui",
    "From": "Depuis l’adresse",
    "Object": "Objet",
    "Changes": "Modifications",
    "system": "système",
    "Newer": "Plus récentes",
    "Page %(n)s of %(total)s": "Page %(n)s sur %(total)s",
    "Older": "Plus anciennes",
    "No entries match.": "Aucune entrée ne correspond.",
    "Personal API tokens": "Jetons d’API personnels",
    "Send a token as <code>Authorization: Token &lt;secret&gt;</code> to the API. It acts as "
    "you, until it expires or you revoke it.": "Envoyez un jeton à l’API sous la forme <code>Authorization: Token &lt;secret&gt;</code>. "
    "Il agit en votre nom jusqu’à son expiration ou sa révocation.",
    "Token “%(name)s” created.": "Jeton « %(name)s » créé.",
    "Copy the secret now: it is shown this once only.": "Copiez le secret maintenant : il n’est montré que cette fois.",
    "New token": "Nouveau jeton",
    "e.g. CI pipeline": "p. ex. chaîne d’intégration",
    "Expires in": "Expire dans",
    "%(days)s day": ("%(days)s jour", "%(days)s jours"),
    "Create token": "Créer le jeton",
    "Starts with": "Commence par",
    "Created": "Créé",
    "Expires": "Expire",
    "Last used": "Dernière utilisation",
    "revoked": "révoqué",
    "expired": "expiré",
    "active": "actif",
    "Revoke": "Révoquer",
    "No tokens yet.": "Aucun jeton pour l’instant.",
    "Log in": "Se connecter",
    "Log in to Nuage": "Connexion à Nuage",
    "Wrong username or password.": "Nom d’utilisateur ou mot de passe incorrect.",
    "Username": "Nom d’utilisateur",
    "Password": "Mot de passe",
    "Log in with SSO": "Se connecter avec le SSO",
    "%(n)s vCPU": ("%(n)s vCPU", "%(n)s vCPU"),
    "%(n)s MiB": "%(n)s Mio",
    "%(env)s (approval required above %(limits)s)": "%(env)s (approbation requise au-delà de %(limits)s)",
    "%(env)s (approval required)": "%(env)s (approbation requise)",
    "Choose a tenant in the header to see its members.": "Choisissez un tenant dans l’en-tête pour voir ses membres.",
    "No active user with this username or e-mail.": "Aucun utilisateur actif avec ce nom ou cet e-mail.",
    "%(user)s added.": "%(user)s ajouté.",
    "Role changed.": "Rôle modifié.",
    "Member removed.": "Membre retiré.",
    "Give a whole number, or leave it empty.": "Donnez un nombre entier, ou laissez vide.",
    "Policy of %(env)s saved.": "Politique de %(env)s enregistrée.",
    "Current tenant": "Tenant courant",
    "All tenants": "Tous les tenants",
    "Switch": "Changer",
    "Members": "Membres",
    "E-mail": "E-mail",
    "Role": "Rôle",
    "Role of %(user)s": "Rôle de %(user)s",
    "Change": "Modifier",
    "Remove": "Retirer",
    "Username or e-mail": "Nom d’utilisateur ou e-mail",
    "Add member": "Ajouter le membre",
    "Environments and approval": "Environnements et approbation",
    # issue 15 (i15a): in-app notifications, approvals, demo data, price lists
    "Notifications": "Notifications",
    "Notifications (%(counter)s unread)": (
        "Notifications (%(counter)s non lue)",
        "Notifications (%(counter)s non lues)",
    ),
    "Mark all as read": "Tout marquer comme lu",
    "Mark as read": "Marquer comme lu",
    "unread": "non lue",
    "No notifications yet: approvals, provisioning results and budget alerts show up here.": (
        "Aucune notification pour l’instant : les approbations, les résultats de création et "
        "les alertes de budget apparaissent ici."
    ),
    "Applies from": "S’applique à partir du",
    "Per vCPU-hour": "Par vCPU-heure",
    "Per GiB of RAM-hour": "Par Gio de RAM-heure",
    "Per GiB of disk-hour": "Par Gio de disque-heure",
    "Per GiB of snapshot-hour": "Par Gio d’instantané-heure",
    "Ends at": "Se termine le",
    "Which list applies at": "Liste applicable le",
    "Invoices in %(cur)s are issued up to %(end)s with the prices then in effect: a price list "
    "cannot change anything before that.": (
        "Les factures en %(cur)s sont émises jusqu’au %(end)s avec les prix alors en vigueur : "
        "une liste de prix ne peut rien changer avant cette date."
    ),
    "This list already ends at %(end)s.": "Cette liste se termine déjà le %(end)s.",
    "An end in the past would change usage already valued with this list; end it from now on.": (
        "Une fin dans le passé changerait la consommation déjà valorisée avec cette liste ; "
        "terminez-la à partir de maintenant."
    ),
    "Ended": "Terminée",
    "In effect now": "En vigueur",
    "Price list %(name)s ends as set.": "La liste de prix %(name)s se terminera comme indiqué.",
    "Price list %(name)s created.": "Liste de prix %(name)s créée.",
    "Price lists": "Listes de prix",
    "A list applies from its start until its own end or the next list of its currency. Times "
    "are in %(zone)s.": (
        "Une liste s’applique de son début jusqu’à sa propre fin ou jusqu’à la liste suivante de "
        "sa devise. Heures en %(zone)s."
    ),
    "Invoices in %(cur)s are issued up to %(end)s: no list may change prices before that.": (
        "Les factures en %(cur)s sont émises jusqu’au %(end)s : aucune liste ne peut changer les "
        "prix avant cette date."
    ),
    "Which list applies": "Liste applicable",
    "At %(at)s: <strong>%(name)s</strong> (%(cur)s).": "Le %(at)s : <strong>%(name)s</strong> (%(cur)s).",
    "At %(at)s no list in %(cur)s applies: usage then is not valued.": (
        "Le %(at)s, aucune liste en %(cur)s ne s’applique : la consommation n’est pas valorisée."
    ),
    "vCPU-hour": "vCPU-heure",
    "GiB RAM-hour": "Gio de RAM-heure",
    "GiB disk-hour": "Gio de disque-heure",
    "GiB snapshot-hour": "Gio d’instantané-heure",
    "End": "Terminer",
    "End %(name)s at": "Terminer %(name)s le",
    "No price lists yet: usage is not valued until one applies.": (
        "Aucune liste de prix : la consommation n’est pas valorisée tant qu’aucune ne s’applique."
    ),
    "New price list": "Nouvelle liste de prix",
    "Create price list": "Créer la liste de prix",
    "No request with this id waits for your approval.": (
        "Aucune demande avec cet identifiant n’attend votre approbation."
    ),
    "Justification": "Justification",
    "Why you need it, for the approvers (some environments require it).": (
        "Pourquoi vous en avez besoin, pour les approbateurs (certains environnements l’exigent)."
    ),
    "Why: %(why)s": "Motif : %(why)s",
    "justification": "justification",
    "%(env)s asks every request to say why it is needed: write it for the approvers.": (
        "%(env)s exige que chaque demande dise pourquoi elle est nécessaire : écrivez-le pour "
        "les approbateurs."
    ),
    "approved; provisioning starts.": "approuvée ; la création commence.",
    "rejected.": "refusée.",
    "Choose approve or reject.": "Choisissez approuver ou refuser.",
    "Select at least one request.": "Sélectionnez au moins une demande.",
    "%(text)s (not decided)": "%(text)s (non décidée)",
    "%(n)s selected request(s) no longer wait for approval.": (
        "%(n)s demande(s) sélectionnée(s) n’attendent plus d’approbation."
    ),
    "justification required": "justification obligatoire",
    "(%(counter)s waiting)": ("(%(counter)s en attente)", "(%(counter)s en attente)"),
    "Waiting": "En attente",
    "Decided": "Décidées",
    "Select requests below, then decide them together; each is checked on its own (nobody "
    "decides their own request) and says what became of it.": (
        "Sélectionnez des demandes ci-dessous, puis décidez-les ensemble ; chacune est vérifiée "
        "à part (personne ne décide de sa propre demande) et indique ce qu’elle est devenue."
    ),
    "Approve selected": "Approuver la sélection",
    "Reject selected": "Refuser la sélection",
    "Select": "Sélectionner",
    "Request": "Demande",
    "Estimated cost": "Coût estimé",
    "Quota impact": "Effet sur le quota",
    "Select %(name)s": "Sélectionner %(name)s",
    "by %(who)s, %(ago)s ago": "par %(who)s, il y a %(ago)s",
    "none given": "aucune",
    "per month": "par mois",
    "no price list": "pas de liste de prix",
    "%(label)s: +%(need)s → %(used)s used + %(reserved)s reserved of %(limit)s": (
        "%(label)s : +%(need)s → %(used)s utilisés + %(reserved)s réservés sur %(limit)s"
    ),
    "Decided requests": "Demandes décidées",
    "Resize approved": "Redimensionnement approuvé",
    "Resize rejected": "Redimensionnement refusé",
    "No decision yet.": "Aucune décision pour l’instant.",
    "requests must say why": "les demandes doivent dire pourquoi",
    "%(used)s used, %(reserved)s reserved (this request included)": (
        "%(used)s utilisés, %(reserved)s réservés (cette demande comprise)"
    ),
    "%(label)s: +%(need)s (%(taken)s of %(limit)s taken)": (
        "%(label)s : +%(need)s (%(taken)s pris sur %(limit)s)"
    ),
    # end of issue 15 (i15a)
    "Approval": "Approbation",
    "Approved automatically up to": "Approuvées automatiquement jusqu’à",
    "an approver decides": "un approbateur décide",
    "vCPU": "vCPU",
    "MiB": "Mio",
    "Save": "Enregistrer",
    "Use an ISO 8601 date or date-time, such as 2025-04-01 or 2025-04-01T12:00Z.": "Utilisez une date ou date-heure ISO 8601, comme 2025-04-01 ou 2025-04-01T12:00Z.",
    "Unknown flavor %(id)s.": "Gabarit %(id)s inconnu.",
    "The period has not begun yet.": "La période n’a pas encore commencé.",
    "The end must come after the start.": "La fin doit venir après le début.",
    "Unknown tenant.": "Tenant inconnu.",
    "Created (disk allocated)": "Créée (disque alloué)",
    "Resized": "Redimensionnée",
    "Snapshot created": "Instantané créé",
    "Snapshot deleted": "Instantané supprimé",
    "RAM": "Mémoire",
    "Disk": "Disque",
    "Snapshots": "Instantanés",
    "Use a three-letter ISO 4217 currency code, such as EUR.": "Utilisez un code de devise ISO 4217 à trois lettres, comme EUR.",
    "A price cannot be negative.": "Un prix ne peut pas être négatif.",
    "price per vCPU-hour": "prix par vCPU-heure",
    "price per GiB of RAM-hour": "prix par Gio de mémoire-heure",
    "price per GiB of disk-hour": "prix par Gio de disque-heure",
    "price per GiB of snapshot-hour": "prix par Gio d’instantané-heure",
    "price per flavor-hour": "prix par gabarit-heure",
    "The price list '%(name)s' in %(cur)s already starts then.": "La grille tarifaire « %(name)s » en %(cur)s commence déjà à cette date.",
    "This overlaps the price list '%(name)s', which runs until %(end)s.": "Ceci chevauche la grille tarifaire « %(name)s », valable jusqu’au %(end)s.",
    "This overlaps the price list '%(name)s', which starts at %(start)s.": "Ceci chevauche la grille tarifaire « %(name)s », qui commence le %(start)s.",
    "Give a time zone (for example 2025-04-01T00:00:00Z).": "Donnez un fuseau horaire (par exemple 2025-04-01T00:00:00Z).",
    "A price cannot be negative (flavor %(names)s).": "Un prix ne peut pas être négatif (gabarit %(names)s).",
    "Another price list in this currency starts then.": "Une autre grille tarifaire dans cette devise commence à cette date.",
    "The price list '%(name)s' is already in effect and usage has been valued with it; create a new price list instead.": "La grille tarifaire « %(name)s » est déjà en vigueur et a servi à valoriser l’usage ; "
    "créez plutôt une nouvelle grille.",
    "Your platform role does not allow this action.": "Votre rôle sur la plateforme ne permet pas cette action.",
    "Estimated cost while running:": "Coût estimé en marche :",
    "per hour": "par heure",
    "per month (730 hours)": "par mois (730 heures)",
    "The disk is charged for as long as the VM exists, even stopped.": "Le disque est facturé tant que la VM existe, même arrêtée.",
    "Choose a flavor to see its estimated cost.": "Choisissez un gabarit pour voir son coût estimé.",
    "No price list is in effect yet: usage is recorded, not charged.": "Aucune grille tarifaire n’est en vigueur : l’usage est enregistré, pas facturé.",
}

FR.update(
    {
        "Give at least one limit.": "Donnez au moins une limite.",
        "Unknown environment.": "Environnement inconnu.",
        "Quotas": "Quotas",
        "vCPUs": "vCPU",
        "RAM (MiB)": "Mémoire (Mio)",
        "Disk (GiB)": "Disque (Gio)",
        "Reserved": "Réservé",
        "In use": "Utilisé",
        "Released": "Libéré",
        "Approved": "Approuvée",
        "Partially approved": "Approuvée en partie",
        "Why": "Pourquoi",
        "How much more; leave empty for none.": "Combien de plus ; laissez vide pour rien.",
        "vCPUs limit": "limite de vCPU",
        "RAM (MiB) limit": "limite de mémoire (Mio)",
        "disk (GiB) limit": "limite de disque (Gio)",
        "VMs limit": "limite de VM",
        "snapshots limit": "limite d’instantanés",
        "Platform quota defaults": "Quotas par défaut de la plateforme",
        "Quota exceeded for %(resource)s in %(environment)s: asked %(asked)s, %(left)s left of %(limit)s.": "Quota dépassé pour %(resource)s en %(environment)s : %(asked)s demandés, "
        "%(left)s restants sur %(limit)s.",
        "The quota is too busy right now; try again.": "Le quota est trop sollicité ; réessayez.",
        "Unknown resource.": "Ressource inconnue.",
        "Give a whole number.": "Donnez un nombre entier.",
        "A limit cannot be negative (0 blocks the resource).": "Une limite ne peut pas être négative (0 bloque la ressource).",
        "A limit above %(max)s is not accepted.": "Une limite au-delà de %(max)s est refusée.",
        "Ask for at least 1, or leave the field out.": "Demandez au moins 1, ou laissez le champ vide.",
        "A grant cannot be negative.": "Un octroi ne peut pas être négatif.",
        "More than %(max)s is not accepted.": "Plus de %(max)s est refusé.",
        "Say why the tenant needs more.": "Dites pourquoi le tenant a besoin de plus.",
        "Ask for more of at least one resource.": "Demandez plus d’au moins une ressource.",
        "This request was already decided: %(status)s.": "Cette demande a déjà été tranchée : %(status)s.",
        "Grant at most the %(asked)s asked.": "Accordez au plus les %(asked)s demandés.",
        "Grant at least one resource, or reject the request.": "Accordez au moins une ressource, ou refusez la demande.",
        "The limit would exceed %(max)s.": "La limite dépasserait %(max)s.",
        "Your quota request for %(env)s: %(status)s": "Votre demande de quota pour %(env)s : %(status)s",
        "Granted: %(granted)s\nReason given: %(reason)s\n": "Accordé : %(granted)s\nMotif donné : %(reason)s\n",
        "Quota request sent to the platform admins.": "Demande de quota envoyée aux administrateurs de la plateforme.",
        "Limits of %(env)s saved.": "Limites de %(env)s enregistrées.",
        "Platform defaults saved; new environments get them.": "Valeurs par défaut enregistrées ; les nouveaux environnements les reçoivent.",
        "Request #%(id)s: %(status)s.": "Demande n°%(id)s : %(status)s.",
        "%(used)s used, %(reserved)s reserved, limit %(limit)s": "%(used)s utilisés, %(reserved)s réservés, limite %(limit)s",
        "%(used)s used · %(reserved)s reserved · limit %(limit)s": "%(used)s utilisés · %(reserved)s réservés · limite %(limit)s",
        "over quota": "hors quota",
        "This flavor would not fit in the quota of %%(env)s: %%(resource)s asked %%(asked)s, %%(left)s left of %%(limit)s.": "Ce gabarit ne tiendrait pas dans le quota de %%(env)s : %%(resource)s, %%(asked)s "
        "demandés, %%(left)s restants sur %%(limit)s.",
        "Details and increase requests": "Détails et demandes d’augmentation",
        "Each environment has limits. A request reserves its share when it is submitted; the share is in use once the VM is provisioned and is given back on rejection, failure or deletion.": "Chaque environnement a des limites. Une demande réserve sa part à l’envoi ; la part "
        "est utilisée une fois la VM créée, et rendue en cas de refus, d’échec ou de "
        "suppression.",
        "Set limits": "Fixer les limites",
        "Save limits": "Enregistrer les limites",
        "You belong to no tenant yet.": "Vous n’appartenez encore à aucun tenant.",
        "Quota requests waiting for a decision": "Demandes de quota en attente de décision",
        "%(label)s (asked %(n)s)": "%(label)s (%(n)s demandés)",
        "Reason (required to reject)": "Motif (requis pour refuser)",
        "No quota request waits for a decision.": "Aucune demande de quota n’attend de décision.",
        "Ask for more": "Demander plus",
        "Send quota request": "Envoyer la demande de quota",
        "Quota requests": "Demandes de quota",
        "Asked": "Demandé",
        "Granted": "Accordé",
        "Reason given": "Motif donné",
        "No quota request yet.": "Aucune demande de quota pour l’instant.",
        "Platform defaults for new environments": "Valeurs par défaut pour les nouveaux environnements",
        "Save defaults": "Enregistrer les valeurs par défaut",
    }
)

# Tenant time zone (shared by billing periods).
FR.update(
    {
        "time zone": "fuseau horaire",
        "Unknown time zone %(zone)s: use an IANA name such as Europe/Paris.": "Fuseau horaire %(zone)s inconnu : utilisez un nom IANA comme Europe/Paris.",
    }
)

# The VM list: filters, sort orders and pages.
FR.update(
    {
        "Name contains": "Le nom contient",
        "Sort by": "Trier par",
        "Newest first": "Plus récentes d’abord",
        "Oldest first": "Plus anciennes d’abord",
        "Name A–Z": "Nom A–Z",
        "Name Z–A": "Nom Z–A",
        "Pages": "Pages",
        "Previous": "Précédente",
        "Next": "Suivante",
        "All states": "Tous les états",
        "Filter virtual machines": "Filtrer les machines virtuelles",
        "Filter": "Filtrer",
        "Requested": "Demandée",
        "Page %(n)s of %(total)s (%(count)s VM)": (
            "Page %(n)s sur %(total)s (%(count)s VM)",
            "Page %(n)s sur %(total)s (%(count)s VM)",
        ),
    }
)

# Costs, budgets and the finance usage page.
FR.update(
    {
        "Monthly budget": "Budget mensuel",
        "Refuse new VM requests once the month's cost reaches the budget": "Refuser les nouvelles demandes de VM dès que le coût du mois atteint le budget",
        "First day": "Premier jour",
        "Last day": "Dernier jour",
        "Choose at most %(days)s days.": "Choisissez au plus %(days)s jours.",
        "monthly budget": "budget mensuel",
        "Give an amount above zero.": "Indiquez un montant supérieur à zéro.",
        "block new requests over budget": "bloquer les nouvelles demandes au-delà du budget",
        "actual cost": "coût réel",
        "forecast": "prévision",
        "Give the monthly amount as a number, such as 250 or 99.50.": "Indiquez le montant mensuel sous forme de nombre, par exemple 250 ou 99.50.",
        "A budget cannot be negative.": "Un budget ne peut pas être négatif.",
        "Give an amount above zero; remove the budget to have none.": "Indiquez un montant supérieur à zéro ; supprimez le budget pour n’en avoir aucun.",
        "Give at most two decimal places.": "Indiquez au plus deux décimales.",
        "Give at most %(max)s.": "Indiquez au plus %(max)s.",
        "This tenant has a budget already: change it with PATCH /api/v1/budgets/%(id)s/.": "Ce tenant a déjà un budget : modifiez-le avec PATCH /api/v1/budgets/%(id)s/.",
        "The monthly budget of %(tenant)s is used up (%(actual)s of %(amount)s %(currency)s this month), and it blocks new requests. A tenant admin can raise the budget or turn blocking off; otherwise requests are accepted again next month.": "Le budget mensuel de %(tenant)s est épuisé (%(actual)s sur %(amount)s %(currency)s ce "
        "mois-ci) et il bloque les nouvelles demandes. Un administrateur du tenant peut relever le "
        "budget ou désactiver le blocage ; sinon, les demandes seront de nouveau acceptées le mois "
        "prochain.",
        "Daily cost by resource, %(month)s (%(currency)s)": "Coût quotidien par ressource, %(month)s (%(currency)s)",
        "Budget per day": "Budget par jour",
        "Choose a tenant in the header to see its costs.": "Choisissez un tenant dans l’en-tête pour voir ses coûts.",
        "Budget removed.": "Budget supprimé.",
        "Budget saved.": "Budget enregistré.",
        "%(unit)s-hours": "%(unit)s-heures",
        "Cost per tenant (%(currency)s)": "Coût par tenant (%(currency)s)",
        "Cost": "Coût",
        "Cost by resource (%(currency)s)": "Coût par ressource (%(currency)s)",
        "[Nuage] %(tenant)s has used %(threshold)s%% of its budget": "[Nuage] %(tenant)s a consommé %(threshold)s %% de son budget",
        "[Nuage] %(tenant)s is forecast to use %(threshold)s%% of its budget": "[Nuage] %(tenant)s devrait consommer %(threshold)s %% de son budget",
        "Budget of %(tenant)s for %(month)s: %(amount)s %(currency)s.\nCost so far: %(actual)s %(currency)s. Forecast for the month: %(forecast)s %(currency)s.": "Budget de %(tenant)s pour %(month)s : %(amount)s %(currency)s.\nCoût à ce jour : "
        "%(actual)s %(currency)s. Prévision pour le mois : %(forecast)s %(currency)s.",
        "Costs": "Coûts",
        "Budget": "Budget",
        "%(amount)s %(currency)s per month": "%(amount)s %(currency)s par mois",
        "new requests are refused once it is reached": "les nouvelles demandes sont refusées une fois atteint",
        "Costs this month": "Coûts de ce mois",
        "No budget is set.": "Aucun budget n’est fixé.",
        "Per calendar month in the tenant's time zone. Admins and approvers are told at 80 %% and 100 %%, of the cost so far or of the month's forecast.": "Par mois civil dans le fuseau horaire du tenant. Administrateurs et approbateurs sont "
        "prévenus à 80 %% et à 100 %%, du coût à ce jour ou de la prévision du mois.",
        "Save budget": "Enregistrer le budget",
        "Remove budget": "Supprimer le budget",
        "Cost this month": "Coût de ce mois",
        "since %(start)s, up to now (%(now)s %(zone)s)": "depuis le %(start)s, jusqu’à maintenant (%(now)s %(zone)s)",
        "CPU and RAM are charged while the VM runs; its disk as long as it exists, even stopped.": "CPU et RAM sont facturés tant que la VM tourne ; son disque tant qu’elle existe, même arrêtée.",
        "Costs of %(tenant)s": "Coûts de %(tenant)s",
        "%(month)s, %(zone)s time": "%(month)s, heure de %(zone)s",
        "This month": "Ce mois-ci",
        "Cost so far": "Coût à ce jour",
        "from %(start)s 00:00 to %(now)s": "du %(start)s 00:00 au %(now)s",
        "Forecast for the month": "Prévision pour le mois",
        "The cost so far, plus what everything as it is now (running VMs, disks, snapshots, volumes) costs until the end of the month at the prices in effect.": "Le coût à ce jour, plus ce que tout coûte dans son état actuel (VM en marche, disques, "
        "instantanés, volumes) jusqu’à la fin du mois, aux prix en vigueur.",
        "at %(rate)s %(currency)s per hour now": "au rythme actuel de %(rate)s %(currency)s par heure",
        "%(used)s%% used, %(forecast)s%% forecast": "%(used)s %% consommés, %(forecast)s %% prévus",
        "The budget is used up: new VM requests are refused until next month, or until the budget is raised or blocking turned off.": "Le budget est épuisé : les nouvelles demandes de VM sont refusées jusqu’au mois "
        "prochain, ou jusqu’à ce que le budget soit relevé ou le blocage désactivé.",
        "Notified this month:": "Alertes de ce mois :",
        "No budget is set. Tenant admins can set one.": "Aucun budget n’est fixé. Les administrateurs du tenant peuvent en fixer un.",
        "Cost per day": "Coût par jour",
        "Each day's figure is rounded on its own, line by line, so the days may add up to a few cents more or less than the month's total, which is computed from the month's own lines (as the invoice is).": "Le montant de chaque jour est arrondi à part, ligne par ligne : la somme des jours "
        "peut donc différer de quelques centimes du total du mois, calculé sur les lignes du "
        "mois lui-même (comme la facture).",
        "Figures per day": "Montants par jour",
        "Day": "Jour",
        "Sum of the days": "Somme des jours",
        "No usage this month yet.": "Aucune consommation ce mois-ci pour l’instant.",
        "Per environment": "Par environnement",
        "Per resource": "Par ressource",
        "Resource": "Ressource",
        "Usage": "Consommation",
        "Per VM": "Par VM",
        "VM": "VM",
        "Only the most expensive VMs are listed here; the usage export has them all.": "Seules les VM les plus coûteuses sont listées ici ; l’export de la consommation les contient toutes.",
        "Usage and cost": "Consommation et coût",
        "Show": "Afficher",
        "Both dates are included. Days start at midnight in the chosen tenant's time zone, or in the platform's time zone for all tenants; a period that reaches today stops now.": "Les deux dates sont incluses. Les jours commencent à minuit dans le fuseau horaire du "
        "tenant choisi, ou dans celui de la plateforme pour tous les tenants ; une période qui "
        "atteint aujourd’hui s’arrête maintenant.",
        "From %(start)s to %(end)s (%(zone)s).": "Du %(start)s au %(end)s (%(zone)s).",
        "Total": "Total",
        "Download the usage lines:": "Télécharger les lignes de consommation :",
        "Per tenant": "Par tenant",
        "No usage in this period.": "Aucune consommation sur cette période.",
    }
)
# Metering: measured use on the VM page.
FR.update(
    {
        "CPU used": "CPU utilisé",
        "Mean CPU use per hour over the last 24 hours, in vCPUs": "Utilisation moyenne du CPU par heure sur les dernières 24 heures, en vCPU",
        "Allocated": "Alloué",
        "Last hour": "Dernière heure",
        "Last 24 hours": "Dernières 24 heures",
        "Last 30 days": "30 derniers jours",
        "Measured use": "Utilisation mesurée",
        "No measurements yet: a running VM is sampled every minute.": "Pas encore de mesure : une VM en marche est mesurée chaque minute.",
        "This VM sat idle.": "Cette VM est restée inactive.",
        "Over the last 24 hours it used on average %(cpu)s of its %(vcpus)s vCPUs and %(mem)s MiB of its %(ram)s MiB of memory.": "Sur les dernières 24 heures, elle a utilisé en moyenne %(cpu)s de ses %(vcpus)s vCPU et %(mem)s Mio de ses %(ram)s Mio de mémoire.",
        "The smaller flavor %(flavor)s would hold it.": "Le gabarit plus petit %(flavor)s lui suffirait.",
        "A smaller flavor, or stopping it when unused, would cost less.": "Un gabarit plus petit, ou l’arrêter quand elle ne sert pas, coûterait moins cher.",
        "CPU (mean / peak, vCPUs)": "CPU (moyenne / pointe, vCPU)",
        "Memory used (mean, MiB)": "Mémoire utilisée (moyenne, Mio)",
        "Disk read / written": "Disque lu / écrit",
        "%(gib)s GiB disk": "disque de %(gib)s Gio",
        "Network in / out": "Réseau entrant / sortant",
        "Measured by the host every minute; figures cover %(hours)s hour of measurements. 1 vCPU is one virtual CPU busy all the time.": (
            "Mesuré par l’hôte chaque minute ; les chiffres couvrent %(hours)s heure de mesures. 1 vCPU correspond à un processeur virtuel occupé en permanence.",
            "Mesuré par l’hôte chaque minute ; les chiffres couvrent %(hours)s heures de mesures. 1 vCPU correspond à un processeur virtuel occupé en permanence.",
        ),
    }
)

# Load balancing (DRS) and the capacity dashboard.
FR.update(
    {
        "Unknown setting.": "Réglage inconnu.",
        "Give a number.": "Donnez un nombre.",
        "Replaced by a newer run.": "Remplacée par un passage plus récent.",
        "The VM is no longer running (it is %(state)s).": "La VM ne tourne plus (elle est %(state)s).",
        "The VM no longer runs on %(host)s.": "La VM ne tourne plus sur %(host)s.",
        "The VM has an operation in progress.": "La VM a une opération en cours.",
        "Host %(host)s is disabled, in maintenance or down.": "L’hôte %(host)s est désactivé, en maintenance ou hors service.",
        "This recommendation is already %(status)s.": "Cette recommandation est déjà à l’état « %(status)s ».",
        "Not applied: %(reason)s": "Non appliquée : %(reason)s",
        "Off": "Arrêté",
        "Manual: recommend, an admin applies": "Manuel : recommander, un administrateur applique",
        "Automatic: apply up to the limit each cycle": "Automatique : appliquer jusqu’à la limite à chaque cycle",
        "Applied": "Appliquée",
        "Dismissed": "Écartée",
        "Stale": "Périmée",
        "Mode": "Mode",
        "Migrations per cycle": "Migrations par cycle",
        "Minimum gain": "Gain minimal",
        "Minutes between cycles": "Minutes entre deux cycles",
        "Minutes of samples": "Minutes d’échantillons",
        "A move is recommended only if it lowers the imbalance by at least this much.": "Un déplacement n’est recommandé que s’il réduit le déséquilibre d’au moins cette valeur.",
        "A move is recommended only if it lowers the imbalance by at least this much (in a pool of more than 10 hosts, by this much times 10 / hosts: one move changes a larger pool's imbalance less).": "Un déplacement n’est recommandé que s’il réduit le déséquilibre d’au moins cette valeur (dans un parc de plus de 10 hôtes, de cette valeur multipliée par 10 / nombre d’hôtes : un déplacement change moins le déséquilibre d’un grand parc).",
        "Loads are averaged over this many minutes.": "Les charges sont moyennées sur ce nombre de minutes.",
        "migrations per cycle": "migrations par cycle",
        "minimum gain": "gain minimal",
        "minutes between cycles": "minutes entre deux cycles",
        "minutes of samples": "minutes d’échantillons",
        "load balancing settings": "réglages de l’équilibrage de charge",
        "Load balancing settings": "Réglages de l’équilibrage de charge",
        "Load balancing settings saved.": "Réglages de l’équilibrage de charge enregistrés.",
        "The pool is balanced: no move would gain enough.": "Le parc est équilibré : aucun déplacement ne gagnerait assez.",
        "%(n)s recommendation; %(applied)s live migration started.": (
            "%(n)s recommandation ; %(applied)s migration à chaud lancée.",
            "%(n)s recommandations ; %(applied)s migrations à chaud lancées.",
        ),
        "%(n)s recommendation.": ("%(n)s recommandation.", "%(n)s recommandations."),
        "Live migration of %(vm)s to %(host)s started.": "Migration à chaud de %(vm)s vers %(host)s lancée.",
        "Recommendation dismissed.": "Recommandation écartée.",
        "vCPUs: allocated and CPU used, in percent of physical CPUs": "vCPU : alloués et CPU utilisé, en pourcentage des CPU physiques",
        "Memory: allocated and used, in percent of physical memory": "Mémoire : allouée et utilisée, en pourcentage de la mémoire physique",
        "Disk: allocated, in percent of the storage pool": "Disque : alloué, en pourcentage du pool de stockage",
        "Allocated": "Alloué",
        "Measured": "Mesuré",
        "Overcommit limit": "Limite de surallocation",
        "Memory": "Mémoire",
        "Pool: allocated, measured and limit, in percent of physical": "Parc : alloué, mesuré et limite, en pourcentage du physique",
        "Capacity": "Capacité",
        "Measured over": "Mesuré sur",
        "%(n)s minute": ("%(n)s minute", "%(n)s minutes"),
        "Show": "Afficher",
        "Allocated is what the VMs placed on a host were given (their flavors); measured is what they used on average over the window, from the metering samples. Bars are percentages of each host's physical size; the overcommit limit (physical × ratio) is how far placement may allocate.": "L’alloué est ce qui a été donné aux VM placées sur un hôte (leurs gabarits) ; le mesuré est ce qu’elles ont utilisé en moyenne sur la période, d’après les échantillons de mesure. Les barres sont des pourcentages de la taille physique de chaque hôte ; la limite de surallocation (physique × ratio) est jusqu’où le placement peut allouer.",
        "Memory (MiB)": "Mémoire (Mio)",
        "allocated / limit / physical": "alloué / limite / physique",
        "used": "utilisé",
        "maintenance": "maintenance",
        "Total": "Total",
        "Percentages are allocated (and used, in brackets) against physical; above 100 is overcommitment. A dash: no samples in the window.": "Les pourcentages sont l’alloué (et l’utilisé, entre parenthèses) rapportés au physique ; au-delà de 100, c’est de la surallocation. Un tiret : aucun échantillon sur la période.",
        "Load balancing": "Équilibrage de charge",
        "Load balancing (DRS)": "Équilibrage de charge (DRS)",
        "Nuage compares the hosts' measured CPU and memory load. The imbalance is the spread of those loads (the standard deviation of each host's load as a fraction of its size): 0 is a perfectly even pool. A recommendation is a live migration that lowers it, and always respects the placement rules: overcommit ratios, environment tags, anti-affinity, hosts in maintenance or down.": "Nuage compare la charge CPU et mémoire mesurée des hôtes. Le déséquilibre est la dispersion de ces charges (l’écart type de la charge de chaque hôte rapportée à sa taille) : 0 est un parc parfaitement équilibré. Une recommandation est une migration à chaud qui le réduit, et respecte toujours les règles de placement : ratios de surallocation, étiquettes d’environnement, anti-affinité, hôtes en maintenance ou hors service.",
        "Pool now": "Le parc maintenant",
        "Imbalance": "Déséquilibre",
        "Hosts balanced": "Hôtes équilibrés",
        "%(n)s host with running VMs not measured yet": (
            "%(n)s hôte avec des VM en marche pas encore mesuré",
            "%(n)s hôtes avec des VM en marche pas encore mesurés",
        ),
        "VMs that may move": "VM pouvant être déplacées",
        "Run now": "Lancer maintenant",
        "Recommendations": "Recommandations",
        "VM": "VM",
        "To": "Vers",
        "Measured load": "Charge mesurée",
        "Expected gain": "Gain attendu",
        "%(cpu)s CPU, %(mem)s MiB": "%(cpu)s CPU, %(mem)s Mio",
        "Apply": "Appliquer",
        "Each expected gain assumes the moves above it are applied too.": "Chaque gain attendu suppose que les déplacements au-dessus sont aussi appliqués.",
        "No recommendation waits: the pool is balanced, or no run has found a move worth making.": "Aucune recommandation en attente : le parc est équilibré, ou aucun passage n’a trouvé de déplacement qui vaille la peine.",
        "Settings": "Réglages",
        "Save settings": "Enregistrer les réglages",
        "Recent decisions": "Décisions récentes",
        "By": "Par",
        "automatic": "automatique",
        "Recent runs": "Passages récents",
        "Expected after": "Attendu après",
        "periodic cycle": "cycle périodique",
        "Mode: %(mode)s.": "Mode : %(mode)s.",
        "%(n)s recommendation waits.": (
            "%(n)s recommandation en attente.",
            "%(n)s recommandations en attente.",
        ),
        "Open load balancing": "Ouvrir l’équilibrage de charge",
        "Capacity dashboard": "Tableau de bord de capacité",
    }
)

# Invoices and exports (issue 5).
FR.update(
    {
        "Draft": "Brouillon",
        "Issued": "Émise",
        "Invoice": "Facture",
        "Credit note": "Avoir",
        "Credit note %(number)s": "Avoir %(number)s",
        "(draft)": "(brouillon)",
        "Invoice %(number)s": "Facture %(number)s",
        "Period": "Période",
        "From (UTC)": "Du (UTC)",
        "Until (UTC)": "Au (UTC)",
        "Currency": "Devise",
        "Corrects": "Corrige",
        "Description": "Description",
        "VM": "VM",
        "Resource": "Ressource",
        "Quantity": "Quantité",
        "Unit": "Unité",
        "Seconds": "Secondes",
        "Unit price per hour": "Prix unitaire par heure",
        "Amount": "Montant",
        "Total (%(currency)s)": "Total (%(currency)s)",
        "Usage": "Consommation",
        "Year": "Année",
        "Month": "Mois",
        "All": "Tous",
        "Format": "Format",
        "Invoices are for finance, platform admins and tenant admins.": "Les factures sont réservées à la finance, aux administrateurs de la plateforme et aux administrateurs de tenant.",
        "Draft built from the usage ledger.": "Brouillon construit à partir du journal de consommation.",
        "The draft was already up to date with the usage ledger.": "Le brouillon était déjà à jour avec le journal de consommation.",
        "Invoice issued as %(number)s.": "Facture émise sous le numéro %(number)s.",
        "Credit note %(number)s issued.": "Avoir %(number)s émis.",
        "That month has not begun yet.": "Ce mois n’a pas encore commencé.",
        "Give a year between 2000 and 9999.": "Indiquez une année entre 2000 et 9999.",
        "A month is 1 to 12.": "Un mois va de 1 à 12.",
        "%(year)04d-%(month)02d has not ended yet in %(zone)s; it can be invoiced from %(end)s.": "%(year)04d-%(month)02d n’est pas encore terminé dans le fuseau %(zone)s ; il pourra être facturé à partir du %(end)s.",
        "%(year)04d-%(month)02d of %(tenant)s is already invoiced as %(number)s; issue a credit note to correct it.": "%(year)04d-%(month)02d de %(tenant)s est déjà facturé sous le numéro %(number)s ; émettez un avoir pour le corriger.",
        "This invoice is already issued as %(number)s.": "Cette facture est déjà émise sous le numéro %(number)s.",
        "A credit note cannot itself be credited.": "Un avoir ne peut pas lui-même faire l’objet d’un avoir.",
        "Only an issued invoice is credited; a draft can simply be rebuilt.": "Seule une facture émise fait l’objet d’un avoir ; un brouillon peut simplement être reconstruit.",
        "This invoice is already credited by %(number)s.": "Cette facture est déjà corrigée par l’avoir %(number)s.",
        "Invoices": "Factures",
        "Draft invoice": "Facture en brouillon",
        "Corrected by": "Corrigée par",
        "Total": "Total",
        "Download": "Télécharger",
        "Issue this invoice? It gets the next number and can then only be corrected by a credit note.": "Émettre cette facture ? Elle reçoit le numéro suivant et ne pourra ensuite être corrigée que par un avoir.",
        "Issue": "Émettre",
        "Issue a credit note reversing this whole invoice?": "Émettre un avoir annulant toute cette facture ?",
        "then build a fresh draft of the month": "puis construire un nouveau brouillon du mois",
        "Lines": "Lignes",
        "Hours": "Heures",
        "No billable usage in this month.": "Aucune consommation facturable ce mois-ci.",
        "An invoice covers a calendar month in the tenant's time zone. A draft is built from the usage ledger and can be rebuilt; once issued it gets its number and never changes: a credit note corrects it.": "Une facture couvre un mois civil dans le fuseau horaire du tenant. Un brouillon est construit à partir du journal de consommation et peut être reconstruit ; une fois émise, la facture reçoit son numéro et ne change plus : un avoir la corrige.",
        "Show": "Afficher",
        "Number": "Numéro",
        "Kind": "Type",
        "No invoice matches.": "Aucune facture ne correspond.",
        "Draft a month": "Préparer un mois",
        "Build the draft": "Construire le brouillon",
        "Download a month of usage": "Télécharger un mois de consommation",
        "Download this list": "Télécharger cette liste",
        "Time zone": "Fuseau horaire",
        "The usage ledger changed since this draft was built or reviewed (now %(lines)s lines, %(total)s %(currency)s): rebuild the draft and review it again.": "Le journal de consommation a changé depuis la construction ou la relecture de ce brouillon (désormais %(lines)s lignes, %(total)s %(currency)s) : reconstruisez le brouillon et relisez-le.",
        "A draft's lines are computed from the usage ledger each time it is shown; issuing writes them for good.": "Les lignes d’un brouillon sont calculées à partir du journal de consommation à chaque affichage ; l’émission les fige définitivement.",
        "The usage ledger changed since this draft was built: rebuild it (draft the same month again) before issuing.": "Le journal de consommation a changé depuis la construction de ce brouillon : reconstruisez-le (préparez de nouveau le même mois) avant de l’émettre.",
        "A valid integer is required.": "Un nombre entier valide est requis.",
    }
)

# Issue 15: tenants' billing details and cost centre.
FR.update(
    {
        "Billing details are for tenant admins and finance.": "Les coordonnées de facturation sont réservées aux administrateurs du tenant et à la finance.",
        "Legal name": "Raison sociale",
        "legal name": "raison sociale",
        "Billing address": "Adresse de facturation",
        "billing address": "adresse de facturation",
        "Country": "Pays",
        "country": "pays",
        "VAT number": "Numéro de TVA",
        "With its country prefix, such as FR40303265045.": "Avec son préfixe de pays, par exemple FR40303265045.",
        "Billing e-mail": "E-mail de facturation",
        "billing e-mail": "e-mail de facturation",
        "Cost centre": "Centre de coûts",
        "cost centre": "centre de coûts",
        "Optional; usage reports can be grouped by it.": "Facultatif ; les rapports de consommation peuvent être regroupés par centre de coûts.",
        "VAT rate (%)": "Taux de TVA (%)",
        "VAT rate (%%)": "Taux de TVA (%%)",
        "Empty: the platform's rate. 0 for a reverse-charge customer.": "Vide : le taux de la plateforme. 0 pour un client en autoliquidation.",
        "Use a two-letter ISO 3166 country code, such as FR or DE.": "Utilisez un code pays ISO 3166 à deux lettres, par exemple FR ou DE.",
        "Give the VAT number with its country prefix, letters and digits only: FR40303265045.": "Donnez le numéro de TVA avec son préfixe de pays, en lettres et chiffres seulement : FR40303265045.",
        "A cost centre is one line of text.": "Un centre de coûts tient sur une seule ligne.",
        "A VAT rate cannot be negative.": "Un taux de TVA ne peut pas être négatif.",
        "A VAT rate is at most 100.": "Un taux de TVA vaut au plus 100.",
        "A VAT number of %(country)s starts with %(prefix)s.": "Un numéro de TVA de ce pays (%(country)s) commence par %(prefix)s.",
        "Billing details are kept by finance and platform admins.": "Les coordonnées de facturation sont tenues par la finance et les administrateurs de la plateforme.",
        "Billing details saved.": "Coordonnées de facturation enregistrées.",
        "Billing details": "Coordonnées de facturation",
        "the platform's rate": "le taux de la plateforme",
        "Edit billing details": "Modifier les coordonnées de facturation",
        "Billing details of %(tenant)s": "Coordonnées de facturation de %(tenant)s",
        "Printed as the customer on the invoices issued from now on; issued invoices keep the details they were issued with.": "Imprimées comme client sur les factures émises désormais ; les factures déjà émises gardent les coordonnées de leur émission.",
        "Save billing details": "Enregistrer les coordonnées de facturation",
    }
)

# Issue 15: finance-grade invoices (VAT, parties, dates, numbering) and usage reports.
FR.update(
    {
        "Due": "Échéance",
        "VAT": "TVA",
        "Total with VAT": "Total TTC",
        "Net total": "Total HT",
        "VAT %(rate)s %% (%(currency)s)": "TVA %(rate)s %% (%(currency)s)",
        "VAT %(rate)s %%": "TVA %(rate)s %%",
        "Total with VAT (%(currency)s)": "Total TTC (%(currency)s)",
        "Net total (%(currency)s)": "Total HT (%(currency)s)",
        "VAT number: %(number)s": "N° de TVA : %(number)s",
        "Cost centre: %(centre)s": "Centre de coûts : %(centre)s",
        "Issue date": "Date d’émission",
        "Due date": "Date d’échéance",
        "%(first)s to %(last)s": "du %(first)s au %(last)s",
        "This credit note cancels invoice %(number)s of %(date)s: its amounts are negative.": "Cet avoir annule la facture %(number)s du %(date)s : ses montants sont négatifs.",
        "Draft: not an invoice yet; it gets its number when issued.": "Brouillon : ce n’est pas encore une facture ; elle reçoit son numéro à l’émission.",
        "Payment due by %(date)s, quoting %(number)s.": "Paiement dû au plus tard le %(date)s, en rappelant la référence %(number)s.",
        "Bank details: %(bank)s": "Coordonnées bancaires : %(bank)s",
        "VAT reverse charge: the customer accounts for the VAT.": "Autoliquidation : la TVA est due par le preneur.",
        "Issuer": "Émetteur",
        "Bill to": "Facturé à",
        "Net amount": "Montant HT",
        "Period start": "Début",
        "Period end": "Fin",
        "(no cost centre)": "(sans centre de coûts)",
        "Grouped by": "Regroupé par",
        "Subtotal": "Sous-total",
        "Group by": "Regrouper par",
        "Nothing": "Rien",
        "This draft has no billable line: it is not issued, so it takes no invoice number. Nothing is owed for %(year)04d-%(month)02d.": "Ce brouillon n’a aucune ligne facturable : il n’est pas émis et ne prend donc aucun numéro de facture. Rien n’est dû pour %(year)04d-%(month)02d.",
        "The VAT rate of %(tenant)s changed since this draft was built (%(old)s %% then, %(new)s %% now): rebuild the draft and review it again.": "Le taux de TVA de %(tenant)s a changé depuis la construction de ce brouillon (%(old)s %% alors, %(new)s %% désormais) : reconstruisez le brouillon et relisez-le.",
        "Page %(page)s of %(pages)s": "Page %(page)s sur %(pages)s",
        "j M Y, H:i": "j N Y, H:i",
        "j M Y": "j N Y",
        "GiB": "Gio",
        "This draft has no billable line: it will not be issued and takes no invoice number.": "Ce brouillon n’a aucune ligne facturable : il ne sera pas émis et ne prend aucun numéro de facture.",
    }
)

# SSH keys, networks and addresses (issue 12).
FR.update(
    {
        "Unknown key pair: %(ids)s.": "Paire de clés inconnue : %(ids)s.",
        "network": "réseau",
        "Bridge to a host LAN": "Pont vers un réseau local de l’hôte",
        "NAT (libvirt network)": "NAT (réseau libvirt)",
        "Isolated (libvirt network)": "Isolé (réseau libvirt)",
        "User mode (port forward)": "Mode utilisateur (redirection de port)",
        "Key pairs": "Paires de clés",
        "Your SSH keys the VM lets in as root.": "Vos clés SSH que la VM accepte pour root.",
        "Other SSH public key": "Autre clé publique SSH",
        "One line such as ssh-ed25519 AAAA… you@laptop.": (
            "Une ligne comme ssh-ed25519 AAAA… vous@portable."
        ),
        "Network": "Réseau",
        "The environment's default": "Celui de l’environnement par défaut",
        "Host bridge": "Pont de l’hôte",
        "Bridge networks only, e.g. br0.": "Réseaux en pont uniquement, par ex. br0.",
        "Subnet": "Sous-réseau",
        "CIDR, e.g. 10.20.0.0/24; none for user networks.": (
            "CIDR, par ex. 10.20.0.0/24 ; aucun pour les réseaux utilisateur."
        ),
        "Gateway": "Passerelle",
        "Pool start": "Début de la plage",
        "Pool end": "Fin de la plage",
        "DNS servers": "Serveurs DNS",
        "Up to 4 addresses, separated by spaces or commas.": (
            "Jusqu’à 4 adresses, séparées par des espaces ou des virgules."
        ),
        "'%(value)s' is not an IP address.": "« %(value)s » n’est pas une adresse IP.",
        "Choose one of: %(kinds)s.": "Choisissez parmi : %(kinds)s.",
        "Name the host bridge the NICs join, for example br0.": (
            "Nommez le pont de l’hôte que rejoignent les cartes réseau, par exemple br0."
        ),
        "A bridge name is 1-15 letters, digits and - _ . only.": (
            "Un nom de pont compte 1 à 15 lettres, chiffres et - _ . uniquement."
        ),
        "Only bridge networks name a host bridge.": (
            "Seuls les réseaux en pont nomment un pont de l’hôte."
        ),
        "A user network has no %(field)s: guests are reached through a forwarded host port.": (
            "Un réseau utilisateur n’a pas de %(field)s : on joint les invités par un port "
            "redirigé de l’hôte."
        ),
        "Give at most %(n)s DNS servers.": "Donnez au plus %(n)s serveurs DNS.",
        "Give the subnet in CIDR form, for example 10.20.0.0/24.": (
            "Donnez le sous-réseau en notation CIDR, par exemple 10.20.0.0/24."
        ),
        "'%(value)s' is not a subnet in CIDR form (for example 10.20.0.0/24; the host bits must "
        "be zero).": (
            "« %(value)s » n’est pas un sous-réseau en notation CIDR (par exemple 10.20.0.0/24 ; "
            "les bits d’hôte doivent être nuls)."
        ),
        "Give the gateway's address in the subnet.": (
            "Donnez l’adresse de la passerelle dans le sous-réseau."
        ),
        "Give the first and last address Nuage may hand out.": (
            "Donnez la première et la dernière adresse que Nuage peut attribuer."
        ),
        "The gateway %(ip)s is outside %(subnet)s.": "La passerelle %(ip)s est hors de %(subnet)s.",
        "%(ip)s is outside %(subnet)s.": "%(ip)s est hors de %(subnet)s.",
        "%(ip)s is the subnet's network or broadcast address.": (
            "%(ip)s est l’adresse de réseau ou de diffusion du sous-réseau."
        ),
        "The pool ends before it starts: %(start)s > %(end)s.": (
            "La plage finit avant de commencer : %(start)s > %(end)s."
        ),
        "%(subnet)s overlaps %(other)s of network %(name)s.": (
            "%(subnet)s chevauche %(other)s du réseau %(name)s."
        ),
        "A network named '%(name)s' exists.": "Un réseau nommé « %(name)s » existe déjà.",
        "VMs hold addresses on this network: delete them before changing it.": (
            "Des VM ont des adresses sur ce réseau : supprimez-les avant de le modifier."
        ),
        "%(n)s VM interfaces are on %(name)s: delete those VMs first.": (
            "%(n)s interfaces de VM sont sur %(name)s : supprimez d’abord ces VM."
        ),
        "Choose an environment of %(tenant)s.": "Choisissez un environnement de %(tenant)s.",
        "This grant exists already.": "Cette autorisation existe déjà.",
        "Network %(name)s is full: all forwarded ports %(first)s-%(last)s are in use.": (
            "Le réseau %(name)s est plein : tous les ports redirigés %(first)s-%(last)s sont pris."
        ),
        "Network %(name)s has no free address left (pool %(start)s-%(end)s). Choose another "
        "network or ask an admin to widen the pool.": (
            "Le réseau %(name)s n’a plus d’adresse libre (plage %(start)s-%(end)s). Choisissez un "
            "autre réseau ou demandez à un administrateur d’élargir la plage."
        ),
        "Could not draw a free MAC address; try again.": (
            "Impossible de tirer une adresse MAC libre ; réessayez."
        ),
        "Network %(name)s is not available to %(env)s.": (
            "Le réseau %(name)s n’est pas disponible pour %(env)s."
        ),
        "Network %(name)s created.": "Réseau %(name)s créé.",
        "Network %(name)s deleted.": "Réseau %(name)s supprimé.",
        "%(tenant)s may now use %(network)s.": "%(tenant)s peut désormais utiliser %(network)s.",
        "Grant withdrawn.": "Autorisation retirée.",
        "Give the key a name, to recognise it later.": (
            "Donnez un nom à la clé, pour la reconnaître plus tard."
        ),
        "You already have a key named '%(name)s'.": "Vous avez déjà une clé nommée « %(name)s ».",
        "This key is already registered as '%(name)s'.": (
            "Cette clé est déjà enregistrée sous « %(name)s »."
        ),
        "Only the key's owner can delete it.": "Seul le propriétaire de la clé peut la supprimer.",
        "Choose among your own key pairs.": "Choisissez parmi vos propres paires de clés.",
        "The key says %(prefix)s but its data is a %(embedded)s key.": (
            "La clé annonce %(prefix)s mais ses données sont celles d’une clé %(embedded)s."
        ),
        "The key's curve does not match its type %(type)s.": (
            "La courbe de la clé ne correspond pas à son type %(type)s."
        ),
        "The key is incomplete: it looks cut off. Paste the whole line.": (
            "La clé est incomplète : elle semble tronquée. Collez la ligne entière."
        ),
        "The key has extra data after its end: paste exactly one key.": (
            "La clé a des données en trop après sa fin : collez exactement une clé."
        ),
        "This is too long for a public key (at most %(n)s characters).": (
            "C’est trop long pour une clé publique (au plus %(n)s caractères)."
        ),
        "Paste a public key.": "Collez une clé publique.",
        "This is a private key: never share it. Paste the .pub file's content instead.": (
            "Ceci est une clé privée : ne la partagez jamais. Collez plutôt le contenu du "
            "fichier .pub."
        ),
        "Paste one key, on one line.": "Collez une seule clé, sur une ligne.",
        "DSA keys are no longer safe; use an ed25519 key.": (
            "Les clés DSA ne sont plus sûres ; utilisez une clé ed25519."
        ),
        "Not an OpenSSH public key. Expected a line starting with one of %(types)s (as in "
        "~/.ssh/id_ed25519.pub).": (
            "Ce n’est pas une clé publique OpenSSH. Attendu : une ligne commençant par l’un de "
            "%(types)s (comme dans ~/.ssh/id_ed25519.pub)."
        ),
        "The key's data is missing after %(type)s.": "Les données de la clé manquent après %(type)s.",
        "The key's data is not valid base64: it may be cut off or mistyped.": (
            "Les données de la clé ne sont pas du base64 valide : elles sont peut-être tronquées "
            "ou mal saisies."
        ),
        "Keep the key's comment to one line of at most %(n)s characters.": (
            "Le commentaire de la clé tient sur une ligne d’au plus %(n)s caractères."
        ),
        "This RSA key has %(bits)s bits; at least %(min)s are required (or use ed25519).": (
            "Cette clé RSA a %(bits)s bits ; il en faut au moins %(min)s (ou utilisez ed25519)."
        ),
        "The key's data is not a valid %(type)s key.": (
            "Les données de la clé ne forment pas une clé %(type)s valide."
        ),
        "Key %(name)s deleted.": "Clé %(name)s supprimée.",
        "Key %(name)s added (%(fingerprint)s).": "Clé %(name)s ajoutée (%(fingerprint)s).",
        "Networks": "Réseaux",
        "SSH keys": "Clés SSH",
        "IP": "IP",
        "VMs get their address from the pool of the network they are attached to. A tenant uses "
        "a network once it is granted to it (or to one of its environments).": (
            "Les VM reçoivent leur adresse de la plage du réseau auquel elles sont reliées. Un "
            "locataire utilise un réseau une fois qu’il lui est autorisé (ou à l’un de ses "
            "environnements)."
        ),
        "The networks your tenants may attach VMs to.": (
            "Les réseaux auxquels vos locataires peuvent relier des VM."
        ),
        "DNS": "DNS",
        "Granted to": "Autorisé à",
        "Withdraw": "Retirer",
        "No networks yet.": "Aucun réseau pour l’instant.",
        "Grant a network": "Autoriser un réseau",
        "All its environments": "Tous ses environnements",
        "Grant": "Autoriser",
        "New network": "Nouveau réseau",
        "Create network": "Créer le réseau",
        "Address": "Adresse",
        "guest port 22": "port 22 de l’invité",
        "Run it on the libvirt host: the port is forwarded on its loopback only.": (
            "Lancez-la sur l’hôte libvirt : le port n’est redirigé que sur sa boucle locale."
        ),
        "Public keys you can give your VMs when you request them. Paste the content of a "
        "<code>.pub</code> file, such as <code>~/.ssh/id_ed25519.pub</code>; never a private key. "
        "A VM keeps the keys it was given even if you delete them here.": (
            "Les clés publiques que vous pouvez donner à vos VM en les demandant. Collez le contenu "
            "d’un fichier <code>.pub</code>, comme <code>~/.ssh/id_ed25519.pub</code> ; jamais une "
            "clé privée. Une VM garde les clés reçues même si vous les supprimez ici."
        ),
        "Add a key": "Ajouter une clé",
        "e.g. laptop": "par ex. portable",
        "Public key": "Clé publique",
        "ed25519, ECDSA (P-256, P-384, P-521) or RSA of at least 2048 bits.": (
            "ed25519, ECDSA (P-256, P-384, P-521) ou RSA d’au moins 2048 bits."
        ),
        "Add key": "Ajouter la clé",
        "Type": "Type",
        "Fingerprint": "Empreinte",
        "Added": "Ajoutée",
        "No keys yet.": "Aucune clé pour l’instant.",
        "Copy": "Copier",
        "Copied": "Copié",
    }
)

# Cloud-init user data (compute/cloudinit.py).
FR.update(
    {
        "User data is %(size)d bytes; at most %(limit)d bytes (16 KiB) are allowed.": "Les données utilisateur font %(size)d octets ; %(limit)d octets (16 Kio) au plus sont permis.",
        "User data must be a script starting with #! or a cloud-config document starting with #cloud-config.": "Les données utilisateur doivent être un script commençant par #! ou un document cloud-config commençant par #cloud-config.",
        " (line %(line)d, column %(column)d)": " (ligne %(line)d, colonne %(column)d)",
        "The cloud-config is not valid YAML%(where)s: %(problem)s.": "Le cloud-config n’est pas du YAML valide%(where)s : %(problem)s.",
        "A cloud-config document must be a mapping of keys to values.": "Un document cloud-config doit associer des clés à des valeurs.",
        "ssh_authorized_keys in the cloud-config must be a list of key lines.": "ssh_authorized_keys dans le cloud-config doit être une liste de lignes de clés.",
        "Writing cloud-init seed": "Écriture de l’amorce cloud-init",
        "Cloud-init seed %(path)s ready.": "Amorce cloud-init %(path)s prête.",
    }
)

# Browser consoles (serial and graphical).
FR.update(
    {
        "Serial console": "Console série",
        "Graphical console": "Console graphique",
        "Consoles": "Consoles",
        "Your account is disabled.": "Votre compte est désactivé.",
        "No such VM.": "Cette VM n’existe pas.",
        "Your role in this tenant does not allow opening this VM's console.": "Votre rôle dans ce locataire ne permet pas d’ouvrir la console de cette VM.",
        "%(name)s is not running: its console is available while it runs.": "%(name)s n’est pas en marche : sa console est disponible quand elle tourne.",
        "Your account no longer exists.": "Votre compte n’existe plus.",
        "Unknown console kind.": "Type de console inconnu.",
        "This console link is not valid.": "Ce lien de console n’est pas valide.",
        "This console link was issued to another user.": "Ce lien de console a été émis pour un autre utilisateur.",
        "This console link was already used: reload the page to open a new session.": "Ce lien de console a déjà servi : rechargez la page pour ouvrir une nouvelle session.",
        "This console link has expired: reload the page to open a new session.": "Ce lien de console a expiré : rechargez la page pour ouvrir une nouvelle session.",
        "Log in to open a console.": "Connectez-vous pour ouvrir une console.",
        "The serial console closed: the VM stopped or its host went away.": "La console série s’est fermée : la VM s’est arrêtée ou son hôte ne répond plus.",
        "This VM was created without a graphical console.": "Cette VM a été créée sans console graphique.",
        "The graphical console closed: the VM stopped or its host went away.": "La console graphique s’est fermée : la VM s’est arrêtée ou son hôte ne répond plus.",
        "The console cannot be opened": "La console ne peut pas être ouverte",
        "Connected.": "Connecté.",
        "The console could not be opened (the link may have expired or been used). Reload the page to try again.": "La console n’a pas pu être ouverte (le lien a peut-être expiré ou déjà servi). Rechargez la page pour réessayer.",
        "The console session ended": "La session de console est terminée",
        "Connecting…": "Connexion…",
        "The guest prints nothing until it has something to say: press Enter for a prompt.": "L’invité n’affiche rien tant qu’il n’a rien à dire : appuyez sur Entrée pour obtenir une invite.",
        "Paste text into the console": "Coller du texte dans la console",
        "Send": "Envoyer",
    }
)

# Networks Nuage defines on its hosts.
FR.update(
    {
        "On hosts": "Sur les hôtes",
        "ready": "prêt",
        "not on any host yet": "sur aucun hôte pour l’instant",
        "Nothing to define: %(kind)s networks are not libvirt networks.": "Rien à définir : les réseaux %(kind)s ne sont pas des réseaux libvirt.",
        "Network %(net)s could not be set up on host %(host)s: %(reason)s": "Le réseau %(net)s n’a pas pu être mis en place sur l’hôte %(host)s : %(reason)s",
        "Defined and started.": "Défini et démarré.",
        "Present and running.": "Présent et actif.",
    }
)

# Data volumes.
FR.update(
    {
        "Volume": "Volume",
        "Creating": "En création",
        "Available": "Disponible",
        "Attaching": "En attachement",
        "Detaching": "En détachement",
        "Resizing": "En agrandissement",
        "Attach (create its storage first)": "Attacher (en créant d’abord son stockage)",
        "Attach": "Attacher",
        "Attached": "Attaché",
        "Detach": "Détacher",
        "Detached": "Détaché",
        "Resize": "Redimensionner",
        "Released by its deleted VM": "Libéré par la suppression de sa VM",
        "Deleted with its VM": "Supprimé avec sa VM",
        "Cannot %(action)s a volume that is %(state)s.": "Impossible de faire « %(action)s » sur un volume à l’état « %(state)s ».",
        "A volume named '%(name)s' already exists in this tenant.": "Un volume nommé « %(name)s » existe déjà dans ce locataire.",
        "This VM has %(n)s volumes already, the most it can take.": "Cette VM a déjà %(n)s volumes, le maximum possible.",
        "A volume can only be attached to a VM of its tenant.": "Un volume ne peut être attaché qu’à une VM de son locataire.",
        "This volume is already attached to a VM; detach it first.": "Ce volume est déjà attaché à une VM ; détachez-le d’abord.",
        "A volume can be attached to a running or stopped VM; this one is %(state)s.": "Un volume s’attache à une VM en marche ou arrêtée ; celle-ci est « %(state)s ».",
        "This volume lives on host %(volume_host)s and the VM runs on host %(vm_host)s: a volume can only be attached to VMs on its own host.": "Ce volume est sur l’hôte %(volume_host)s et la VM sur l’hôte %(vm_host)s : un volume ne s’attache qu’aux VM de son hôte.",
        "This volume is not attached to a VM.": "Ce volume n’est attaché à aucune VM.",
        "Wait until the VM is running or stopped; it is %(state)s.": "Attendez que la VM soit en marche ou arrêtée ; elle est « %(state)s ».",
        "Give a whole number of GiB.": "Indiquez un nombre entier de Gio.",
        "A volume only grows: give more than its current %(size)s GiB.": "Un volume ne fait que grandir : indiquez plus que ses %(size)s Gio actuels.",
        "A volume is at most %(max)s GiB.": "Un volume fait au plus %(max)s Gio.",
        "Wait until the VM is running or stopped to grow its volume.": "Attendez que la VM soit en marche ou arrêtée pour agrandir son volume.",
        "This volume is attached to a VM; detach it first.": "Ce volume est attaché à une VM ; détachez-le d’abord.",
        "The VM this volume was attached to is gone.": "La VM à laquelle ce volume était attaché n’existe plus.",
        "The guest did not release the disk; detach it again later.": "Le système invité n’a pas libéré le disque ; détachez-le de nouveau plus tard.",
        "The volume's work made no progress after %(n)s attempts.": "Le travail sur le volume n’a pas avancé après %(n)s tentatives.",
        "Size (GiB)": "Taille (Gio)",
        "Keep it when its VM is deleted": "Le conserver quand sa VM est supprimée",
        "Choose an environment.": "Choisissez un environnement.",
        "Volume %(name)s created.": "Volume %(name)s créé.",
        "Volume %(name)s created and attached.": "Volume %(name)s créé et attaché.",
        "Choose a VM.": "Choisissez une VM.",
        "Attaching %(volume)s to %(vm)s.": "Attachement de %(volume)s à %(vm)s.",
        "Detaching %(volume)s.": "Détachement de %(volume)s.",
        "Growing %(volume)s to %(size)s GiB.": "Agrandissement de %(volume)s à %(size)s Gio.",
        "Deleting %(volume)s.": "Suppression de %(volume)s.",
        "Choose a volume.": "Choisissez un volume.",
        "Volumes": "Volumes",
        "Device": "Périphérique",
        "Size": "Taille",
        "When the VM is deleted": "À la suppression de la VM",
        "kept": "conservé",
        "deleted too": "supprimé aussi",
        "No volume attached.": "Aucun volume attaché.",
        "Attach a volume": "Attacher un volume",
        "New volume": "Nouveau volume",
        "name": "nom",
        "keep it when the VM is deleted": "le conserver à la suppression de la VM",
        "Create and attach": "Créer et attacher",
        "A running VM sees a new disk at once (hot-plug); a stopped one at its next start.": "Une VM en marche voit aussitôt le nouveau disque (branchement à chaud) ; une VM arrêtée à son prochain démarrage.",
        "Extra data disks for your VMs. A new volume takes no room on a host until its first attachment; it then lives on that VM's host and can be attached to VMs on that host only. Volumes count in the disk quota and are billed per GiB-hour like the VMs' disks, attached or not.": "Des disques de données en plus pour vos VM. Un nouveau volume n’occupe aucun hôte avant son premier attachement ; il reste ensuite sur l’hôte de cette VM et ne s’attache qu’aux VM de cet hôte. Les volumes comptent dans le quota de disque et sont facturés au Gio-heure comme les disques des VM, attachés ou non.",
        "Actions": "Actions",
        "New size (GiB)": "Nouvelle taille (Gio)",
        "Grow": "Agrandir",
        "No volumes yet.": "Aucun volume pour l’instant.",
        "Create volume": "Créer le volume",
        "This VM has data volumes on host %(host)s: detach them to move it.": "Cette VM a des volumes de données sur l’hôte %(host)s : détachez-les pour la déplacer.",
        "The VM's host cannot take the new size (%(reason)s), and its data volumes keep it there: detach them to let it move.": "L’hôte de la VM ne peut pas prendre la nouvelle taille (%(reason)s) et ses volumes de données l’y retiennent : détachez-les pour qu’elle puisse être déplacée.",
    }
)

# Resource limits and the flavors page.
FR.update(
    {
        "Empty: no limit.": "Vide : aucune limite.",
        "CPU shares": "Parts de CPU",
        "Weight against the other VMs of the host when the CPU is contended (1024: usual).": "Poids face aux autres VM de l’hôte quand le CPU est disputé (1024 : usuel).",
        "CPU cap (% of a vCPU)": "Plafond CPU (% d’un vCPU)",
        "Each vCPU may use at most this share of a host CPU (cgroup CFS quota).": "Chaque vCPU peut utiliser au plus cette part d’un CPU de l’hôte (quota CFS du cgroup).",
        "memory hard limit (MiB)": "limite stricte de mémoire (Mio)",
        "What the VM's QEMU process may use in all, guest RAM and QEMU's own overhead; at least the RAM. Applied to the running VM after each start.": "Ce que le processus QEMU de la VM peut utiliser en tout, RAM de l’invité et surcoût de QEMU compris ; au moins la RAM. Appliquée à la VM en marche après chaque démarrage.",
        "disk read IOPS": "IOPS de lecture disque",
        "disk write IOPS": "IOPS d’écriture disque",
        "disk read bytes/s": "lecture disque (octets/s)",
        "disk write bytes/s": "écriture disque (octets/s)",
        "network in (KiB/s)": "réseau entrant (Kio/s)",
        "network out (KiB/s)": "réseau sortant (Kio/s)",
        "The memory hard limit (%(hard)s MiB) must be at least the RAM (%(ram)s MiB), or the guest is killed when it uses its memory.": "La limite stricte de mémoire (%(hard)s Mio) doit valoir au moins la RAM (%(ram)s Mio), sinon l’invité est tué quand il utilise sa mémoire.",
        "%(pct)s%% of a CPU per vCPU": "%(pct)s %% d’un CPU par vCPU",
        "CPU cap": "Plafond CPU",
        "Memory hard limit": "Limite stricte de mémoire",
        "read %(n)s IOPS": "lecture %(n)s IOPS",
        "write %(n)s IOPS": "écriture %(n)s IOPS",
        "read %(n)s/s": "lecture %(n)s/s",
        "write %(n)s/s": "écriture %(n)s/s",
        "in %(n)s KiB/s": "entrant %(n)s Kio/s",
        "out %(n)s KiB/s": "sortant %(n)s Kio/s",
        "Unknown field.": "Champ inconnu.",
        "Memory limited to %(mib)s MiB.": "Mémoire limitée à %(mib)s Mio.",
        "Flavors": "Gabarits",
        "What a VM of each flavor gets: its size, the limits that keep it from crowding its neighbours, and what it costs while it runs.": "Ce qu’obtient une VM de chaque gabarit : sa taille, les limites qui l’empêchent d’étouffer ses voisines, et ce qu’elle coûte en marche.",
        "Limits": "Limites",
        "Per hour": "Par heure",
        "Per month (730 hours)": "Par mois (730 heures)",
        "private": "privé",
        "Costs are for a running VM; the disk is charged for as long as the VM exists, even stopped. Network limits apply to NICs on libvirt networks and bridges.": "Les coûts sont ceux d’une VM en marche ; le disque est facturé tant que la VM existe, même arrêtée. Les limites réseau s’appliquent aux cartes sur des réseaux libvirt et des ponts.",
        "No flavor is available to you yet.": "Aucun gabarit ne vous est encore proposé.",
    }
)

# OVF: exports and imports of OVAs.
FR.update(
    {
        "This export is not ready for download.": "Cet export n’est pas prêt à télécharger.",
        "This export's file is gone; export the VM again.": "Le fichier de cet export n’existe plus ; exportez à nouveau la VM.",
        "Exporting": "Export en cours",
        "Ready to download": "Prêt à télécharger",
        "Expired": "Expiré",
        "Export of %(name)s started; its OVA appears below.": "Export de %(name)s lancé ; son OVA apparaît ci-dessous.",
        "Only a stopped VM can be exported; %(name)s is %(state)s.": "Seule une VM arrêtée peut être exportée ; %(name)s est %(state)s.",
        "An export of %(name)s is already in progress.": "Un export de %(name)s est déjà en cours.",
        "The VM was no longer stopped when its export began.": "La VM n’était plus arrêtée quand son export a commencé.",
        "Export (OVA)": "Export (OVA)",
        "Export as OVA": "Exporter en OVA",
        "Stop the VM to export it: an OVF envelope and its disks, for VirtualBox, VMware or another Nuage.": "Arrêtez la VM pour l’exporter : une enveloppe OVF et ses disques, pour VirtualBox, VMware ou un autre Nuage.",
        "Size": "Taille",
        "until %(when)s": "jusqu’au %(when)s",
        "The export runs in the background; reload the page to follow it.": "L’export se fait en arrière-plan ; rechargez la page pour le suivre.",
        "The image %(image)s needs at least %(vcpus)s vCPU, %(ram)s MiB of RAM and a %(disk)s GiB disk; choose a larger flavor.": "L’image %(image)s demande au moins %(vcpus)s vCPU, %(ram)s Mio de RAM et un disque de %(disk)s Gio ; choisissez un gabarit plus grand.",
        "OVA file": "Fichier OVA",
        "Image name": "Nom de l’image",
        "Kernel path (optional)": "Chemin du noyau (facultatif)",
        "Boots the imported disk with this kernel (direct kernel boot), for disks without a boot loader.": "Démarre le disque importé avec ce noyau (démarrage direct du noyau), pour les disques sans chargeur d’amorçage.",
        "Initrd path (optional)": "Chemin de l’initrd (facultatif)",
        "Every tenant may use it": "Tous les locataires peuvent l’utiliser",
        "Image %(name)s imported: %(vcpus)s vCPU, %(ram)s MiB, %(disk)s GiB.": "Image %(name)s importée : %(vcpus)s vCPU, %(ram)s Mio, %(disk)s Gio.",
        "The OVA is %(size)s bytes; the most Nuage takes is %(limit)s.": "L’OVA fait %(size)s octets ; Nuage en accepte au plus %(limit)s.",
        "No host takes new VMs: the image has nowhere to go.": "Aucun hôte ne prend de nouvelles VM : l’image n’a nulle part où aller.",
        "This OVA has %(n)s disks; a Nuage image has one (attach data volumes to the VMs instead).": "Cette OVA a %(n)s disques ; une image Nuage n’en a qu’un (attachez plutôt des volumes de données aux VM).",
        "Images": "Images",
        "Boot": "Démarrage",
        "Needs at least": "Demande au moins",
        "Operating system": "Système d’exploitation",
        "Import an OVA": "Importer une OVA",
        "An OVA exported by Nuage, VirtualBox or VMware: its envelope gives the CPUs, memory and operating system; its disk (VMDK or qcow2) becomes the image's disk on every host. Members then request VMs from it with a flavor at least that large.": "Une OVA exportée par Nuage, VirtualBox ou VMware : son enveloppe donne les CPU, la mémoire et le système d’exploitation ; son disque (VMDK ou qcow2) devient le disque de l’image sur chaque hôte. Les membres demandent ensuite des VM à partir d’elle avec un gabarit au moins aussi grand.",
        "Import": "Importer",
    }
)


# Resize.
FR.update(
    {
        "Resizing": "En redimensionnement",
        "Resize": "Redimensionner",
        "Resize aborted": "Redimensionnement abandonné",
        "Growing disk": "Agrandissement du disque",
        "Applying the new size": "Application de la nouvelle taille",
        "The VM already has this flavor.": "La VM a déjà ce gabarit.",
        "A disk grows, it never shrinks: %(flavor)s has %(new)s GiB, the VM's disk is %(old)s GiB.": "Un disque grandit, il ne rétrécit jamais : %(flavor)s a %(new)s Gio, le disque de la VM fait %(old)s Gio.",
        "Stop the VM before resizing it; it is %(state)s.": "Arrêtez la VM avant de la redimensionner ; elle est %(state)s.",
        "The VM's host cannot take the new size (%(reason)s). Moving a stopped VM to another host to resize it is not available yet: choose a smaller flavor or ask a platform admin to make room.": "L’hôte de la VM ne peut pas accueillir la nouvelle taille (%(reason)s). Déplacer une VM arrêtée vers un autre hôte pour la redimensionner n’est pas encore possible : choisissez un gabarit plus petit ou demandez à un administrateur de la plateforme de faire de la place.",
        "Disk is %(gib)s GiB.": "Le disque fait %(gib)s Gio.",
        "The VM's disk is missing from its host.": "Le disque de la VM manque sur son hôte.",
        "Domain defined with %(vcpus)s vCPU and %(ram)s MiB.": "Domaine défini avec %(vcpus)s vCPU et %(ram)s Mio.",
        "Domain already has %(vcpus)s vCPU and %(ram)s MiB.": "Le domaine a déjà %(vcpus)s vCPU et %(ram)s Mio.",
        "Resizing %(name)s to %(flavor)s.": "Redimensionnement de %(name)s en %(flavor)s.",
        "Resize to": "Redimensionner en",
        "smaller disk": "disque plus petit",
        "The disk grows with the flavor and never shrinks. The new vCPUs, memory and limits apply when the VM starts again.": "Le disque grandit avec le gabarit et ne rétrécit jamais. Les nouveaux vCPU, la mémoire et les limites s’appliquent au prochain démarrage de la VM.",
        "Compare flavors": "Comparer les gabarits",
    }
)

# Volumes (strings that reached main without their French).
FR.update(
    {
        "Volume": "Volume",
        "Creating": "En création",
        "Available": "Disponible",
        "Attaching": "En attachement",
        "Detaching": "En détachement",
        "Attach (create its storage first)": "Attacher (créer d’abord son stockage)",
        "Attach": "Attacher",
        "Attached": "Attaché",
        "Detach": "Détacher",
        "Detached": "Détaché",
        "Released by its deleted VM": "Libéré par sa VM supprimée",
        "Deleted with its VM": "Supprimé avec sa VM",
        "Cannot %(action)s a volume that is %(state)s.": "Impossible de faire « %(action)s » sur un volume %(state)s.",
        "A volume named '%(name)s' already exists in this tenant.": "Un volume nommé « %(name)s » existe déjà dans ce locataire.",
        "This VM has %(n)s volumes already, the most it can take.": "Cette VM a déjà %(n)s volumes, le maximum qu’elle peut prendre.",
        "A volume can only be attached to a VM of its tenant.": "Un volume ne peut être attaché qu’à une VM de son locataire.",
        "This volume is already attached to a VM; detach it first.": "Ce volume est déjà attaché à une VM ; détachez-le d’abord.",
        "A volume can be attached to a running or stopped VM; this one is %(state)s.": "Un volume s’attache à une VM en marche ou arrêtée ; celle-ci est %(state)s.",
        "This volume lives on host %(volume_host)s and the VM runs on host %(vm_host)s: a volume can only be attached to VMs on its own host.": "Ce volume est sur l’hôte %(volume_host)s et la VM tourne sur l’hôte %(vm_host)s : un volume ne s’attache qu’aux VM de son propre hôte.",
        "This volume is not attached to a VM.": "Ce volume n’est attaché à aucune VM.",
        "Wait until the VM is running or stopped; it is %(state)s.": "Attendez que la VM soit en marche ou arrêtée ; elle est %(state)s.",
        "Give a whole number of GiB.": "Donnez un nombre entier de Gio.",
        "A volume only grows: give more than its current %(size)s GiB.": "Un volume ne fait que grandir : donnez plus que ses %(size)s Gio actuels.",
        "A volume is at most %(max)s GiB.": "Un volume fait au plus %(max)s Gio.",
        "Wait until the VM is running or stopped to grow its volume.": "Attendez que la VM soit en marche ou arrêtée pour agrandir son volume.",
        "This volume is attached to a VM; detach it first.": "Ce volume est attaché à une VM ; détachez-le d’abord.",
        "The VM this volume was attached to is gone.": "La VM à laquelle ce volume était attaché n’existe plus.",
        "The guest did not release the disk; detach it again later.": "L’invité n’a pas libéré le disque ; détachez-le de nouveau plus tard.",
        "The volume's work made no progress after %(n)s attempts.": "Le travail sur le volume n’a pas avancé après %(n)s tentatives.",
    }
)

# Resize on another host.
FR.update(
    {
        "Resize on another host": "Redimensionnement sur un autre hôte",
        "Preparing the new host": "Préparation du nouvel hôte",
        "Copying the disk to the new host": "Copie du disque vers le nouvel hôte",
        "The VM's host cannot take the new size (%(reason)s), and moving it to another host needs an approver in %(environment)s, which resizing cannot ask for yet: choose a smaller flavor or ask a platform admin to make room.": "L’hôte de la VM ne peut pas accueillir la nouvelle taille (%(reason)s), et la déplacer vers un autre hôte demande un approbateur dans %(environment)s, ce que le redimensionnement ne sait pas encore demander : choisissez un gabarit plus petit ou demandez à un administrateur de la plateforme de faire de la place.",
        "The VM's host cannot take the new size (%(reason)s), nor can another: %(why)s": "L’hôte de la VM ne peut pas accueillir la nouvelle taille (%(reason)s), aucun autre non plus : %(why)s",
        "Already on %(host)s.": "Déjà sur %(host)s.",
        "Disk copied to %(host)s in %(seconds).1f s.": "Disque copié vers %(host)s en %(seconds).1f s.",
    }
)

# Webhook hardening (issue 14).
FR.update(
    {
        "Refused: webhooks go to public addresses only.": "Refusé : les webhooks ne vont qu’à des adresses publiques.",
        "Webhooks go to public addresses only: this one is on a private network or on this machine.": "Les webhooks ne vont qu’à des adresses publiques : celle-ci est sur un réseau privé ou sur cette machine.",
        "A tenant has at most %(cap)d webhooks; delete one first.": "Un tenant a au plus %(cap)d webhooks ; supprimez-en un d’abord.",
        "This webhook was pinged less than %(seconds)d seconds ago; try again later.": "Ce webhook a été testé il y a moins de %(seconds)d secondes ; réessayez plus tard.",
    }
)

# A resize waiting for approval.
FR.update(
    {
        "Resize waiting for approval": "Redimensionnement en attente d’approbation",
        "Request a resize": "Demander un redimensionnement",
        "Approve the resize": "Approuver le redimensionnement",
        "Reject the resize": "Refuser le redimensionnement",
        "No resize of this VM waits for approval; it is %(state)s.": "Aucun redimensionnement de cette VM n’attend d’approbation ; elle est %(state)s.",
        "The resize to %(flavor)s was rejected by %(user)s: %(reason)s": "Le redimensionnement en %(flavor)s a été refusé par %(user)s : %(reason)s",
        "A resize to %(flavor)s needs another host: an approver of %(tenant)s decides. The quota for the new size is held meanwhile.": "Un redimensionnement en %(flavor)s demande un autre hôte : un approbateur de %(tenant)s décide. Le quota de la nouvelle taille est réservé en attendant.",
        "Resize %(old)s → %(new)s": "Redimensionner %(old)s → %(new)s",
    }
)
FR.update(
    {
        "The resize of %(name)s to %(flavor)s waits for an approver.": "Le redimensionnement de %(name)s en %(flavor)s attend un approbateur.",
    }
)

# VM snapshots: take, revert, delete, schedules.
FR.update(
    {
        "No such snapshot of this VM.": "Cette VM n’a pas d’instantané de ce numéro.",
        "Revert to a running snapshot": "Retour à un instantané en marche",
        "Revert to a stopped snapshot": "Retour à un instantané arrêté",
        "Snapshot": "Instantané",
        "Revert to snapshot": "Retour à l’instantané",
        "Delete snapshot": "Supprimer l’instantané",
        "Taking snapshot": "Prise de l’instantané",
        "Reverting to snapshot": "Retour à l’instantané",
        "Deleting snapshot": "Suppression de l’instantané",
        "Creating": "En création",
        "Ready": "Prêt",
        "Reverting": "Retour en cours",
        "Daily": "Quotidien",
        "Weekly": "Hebdomadaire",
        "A snapshot operation is running on this VM; try again when it has finished.": "Une opération d’instantané est en cours sur cette VM ; réessayez quand elle sera terminée.",
        "Snapshots need the VM running or stopped; this one is %(state)s.": "Les instantanés demandent une VM en marche ou arrêtée ; celle-ci est : %(state)s.",
        "Another operation is running on this VM; try again when it has finished.": "Une autre opération est en cours sur cette VM ; réessayez quand elle sera terminée.",
        "This snapshot is %(state)s.": "Cet instantané est : %(state)s.",
        "A snapshot with memory needs the VM running; start it first.": "Un instantané avec la mémoire demande une VM en marche ; démarrez-la d’abord.",
        "A disk-only snapshot needs the VM stopped; stop it first, or include the memory.": "Un instantané du disque seul demande une VM arrêtée ; arrêtez-la d’abord, ou incluez la mémoire.",
        "This VM already has a snapshot named '%(name)s'.": "Cette VM a déjà un instantané nommé « %(name)s ».",
        "The VM is not placed on any host.": "La VM n’est placée sur aucun hôte.",
        "Snapshot taken (%(mib)s MiB on the host).": "Instantané pris (%(mib)s Mio sur l’hôte).",
        "Reverted; the VM is running.": "Retour effectué ; la VM est en marche.",
        "Reverted; the VM is stopped.": "Retour effectué ; la VM est arrêtée.",
        "Nothing to delete on any host.": "Rien à supprimer sur aucun hôte.",
        "Snapshot deleted.": "Instantané supprimé.",
        "No snapshot to delete.": "Aucun instantané à supprimer.",
        "Choose daily or weekly.": "Choisissez quotidien ou hebdomadaire.",
        "Keep between 1 and 50 snapshots.": "Gardez entre 1 et 50 instantanés.",
        "Snapshot %(name)s of %(vm)s requested.": "Instantané %(name)s de %(vm)s demandé.",
        "Revert of %(vm)s to %(name)s requested.": "Retour de %(vm)s à %(name)s demandé.",
        "Deletion of snapshot %(name)s requested.": "Suppression de l’instantané %(name)s demandée.",
        "Scheduled snapshots turned off.": "Instantanés programmés désactivés.",
        "Snapshot schedule saved.": "Programmation des instantanés enregistrée.",
        "Size": "Taille",
        "Taken": "Pris",
        "Actions": "Actions",
        "scheduled": "programmé",
        "Disk and memory": "Disque et mémoire",
        "Disk only": "Disque seul",
        "Revert the VM to this snapshot? What changed since it was taken is lost.": "Ramener la VM à cet instantané ? Ce qui a changé depuis sa prise sera perdu.",
        "Revert": "Revenir",
        "Delete this snapshot?": "Supprimer cet instantané ?",
        "No snapshots yet.": "Aucun instantané pour l’instant.",
        "New snapshot": "Nouvel instantané",
        "Lowercase letters, digits and hyphens.": "Minuscules, chiffres et tirets.",
        "Include the memory (a running VM)": "Inclure la mémoire (VM en marche)",
        "A running VM is snapshotted live with its memory; a stopped one, its disk only.": "Une VM en marche est prise à chaud avec sa mémoire ; une VM arrêtée, son disque seul.",
        "Take snapshot": "Prendre un instantané",
        "Scheduled snapshots": "Instantanés programmés",
        "Taken %(frequency)s, the newest %(retention)s kept.": "Pris en rythme %(frequency)s, les %(retention)s plus récents gardés.",
        "Last": "Dernier",
        "Frequency": "Fréquence",
        "Keep": "Garder",
        "Save schedule": "Enregistrer la programmation",
        "Turn off": "Désactiver",
    }
)

# Hardening (issue 14): single sign-on, passwords, sessions, approval policy, invitations.
FR.update(
    {
        "An account with this e-mail address already exists and signs in with a password: single sign-on cannot be linked to it. Log in with your password, or ask an admin.": "Un compte avec cette adresse e-mail existe déjà et se connecte avec un mot de passe : l’authentification unique ne peut pas lui être liée. Connectez-vous avec votre mot de passe, ou demandez à un administrateur.",
        "This account has a platform role: it signs in with its password only, not with single sign-on.": "Ce compte a un rôle de plateforme : il se connecte avec son mot de passe seulement, pas par authentification unique.",
        "The identity provider gave no issuer or subject.": "Le fournisseur d’identité n’a donné ni émetteur ni sujet.",
        "This account is disabled.": "Ce compte est désactivé.",
        "Several accounts have this e-mail address: ask an admin to link yours.": "Plusieurs comptes ont cette adresse e-mail : demandez à un administrateur de lier le vôtre.",
        "This account is already linked to another identity of this provider.": "Ce compte est déjà lié à une autre identité de ce fournisseur.",
        "No account is linked to this identity: ask an admin.": "Aucun compte n’est lié à cette identité : demandez à un administrateur.",
        "You were logged out after a while without activity.": "Vous avez été déconnecté(e) après un moment d’inactivité.",
        "Change your password": "Changer votre mot de passe",
        "Your account signs in with single sign-on: it has no password to change here.": "Votre compte se connecte par authentification unique : il n’a pas de mot de passe à changer ici.",
        "Change password": "Changer le mot de passe",
        "Your password was changed.": "Votre mot de passe a été changé.",
        "Approval policy of %(env)s: a change waits for a second admin": "Politique d’approbation de %(env)s : un changement attend un second administrateur",
        "%(by)s proposes to loosen the approval policy of %(env)s.\nNow: %(old)s.\nProposed: %(new)s.\nAnother tenant admin or a platform admin must approve it: %(link)s\n": "%(by)s propose d’assouplir la politique d’approbation de %(env)s.\nActuellement : %(old)s.\nProposé : %(new)s.\nUn autre administrateur du locataire ou un administrateur de la plateforme doit l’approuver : %(link)s\n",
        "Approval policy of %(env)s changed": "Politique d’approbation de %(env)s modifiée",
        "%(by)s changed the approval policy of %(env)s.\nBefore: %(old)s.\nNow: %(new)s.\n": "%(by)s a modifié la politique d’approbation de %(env)s.\nAvant : %(old)s.\nMaintenant : %(new)s.\n",
        "Waiting for a second admin": "En attente d’un second administrateur",
        "Approved and applied": "Approuvé et appliqué",
        "no approval needed": "aucune approbation nécessaire",
        "every request waits for an approver": "chaque demande attend un approbateur",
        "%(n)s vCPUs": "%(n)s vCPU",
        "%(n)s MiB of RAM": "%(n)s Mio de RAM",
        "approval needed above %(limits)s": "approbation nécessaire au-delà de %(limits)s",
        " and ": " et ",
        "This policy change was already decided: %(status)s.": "Ce changement de politique a déjà été décidé : %(status)s.",
        "Another tenant admin or a platform admin must approve your own proposal.": "Un autre administrateur du locataire ou un administrateur de la plateforme doit approuver votre propre proposition.",
        "This change loosens the approval policy of %(env)s: it applies once another tenant admin or a platform admin approves it.": "Ce changement assouplit la politique d’approbation de %(env)s : il s’appliquera quand un autre administrateur du locataire ou un administrateur de la plateforme l’aura approuvé.",
        "Policy change approved and applied.": "Changement de politique approuvé et appliqué.",
        "Policy change rejected.": "Changement de politique refusé.",
        "Policy changes waiting for a second admin": "Changements de politique en attente d’un second administrateur",
        "Proposed": "Proposé",
        "approved automatically up to": "approuvé automatiquement jusqu’à",
        "Tenant admins add members by invitation: invite them by e-mail.": "Les administrateurs du tenant ajoutent des membres par invitation : invitez-les par e-mail.",
        "You are invited to %(tenant)s on Nuage": "Vous êtes invité(e) à rejoindre %(tenant)s sur Nuage",
        "%(who)s invites you to join %(tenant)s as %(role)s.\nLog in to Nuage (or ask for an account) and open this link before %(expiry)s:\n%(link)s\n": "%(who)s vous invite à rejoindre %(tenant)s en tant que %(role)s.\nConnectez-vous à Nuage (ou demandez un compte) et ouvrez ce lien avant le %(expiry)s :\n%(link)s\n",
        "Enter a valid e-mail address.": "Saisissez une adresse e-mail valide.",
        "This invitation was already accepted or revoked.": "Cette invitation a déjà été acceptée ou révoquée.",
        "This invitation link is not valid.": "Ce lien d’invitation n’est pas valide.",
        "This invitation was already used.": "Cette invitation a déjà été utilisée.",
        "This invitation was revoked.": "Cette invitation a été révoquée.",
        "This invitation has expired: ask for a new one.": "Cette invitation a expiré : demandez-en une nouvelle.",
        "You are already a member of this tenant.": "Vous êtes déjà membre de ce tenant.",
        "Invitation sent to %(email)s, valid until %(expiry)s.": "Invitation envoyée à %(email)s, valable jusqu’au %(expiry)s.",
        "Invitation revoked.": "Invitation révoquée.",
        "Welcome to %(tenant)s: you are now %(role)s.": "Bienvenue dans %(tenant)s : vous êtes désormais %(role)s.",
        "Invitation": "Invitation",
        "Join %(tenant)s": "Rejoindre %(tenant)s",
        "%(who)s invites you to join %(tenant)s as %(role)s.": "%(who)s vous invite à rejoindre %(tenant)s en tant que %(role)s.",
        "You will join as %(username)s.": "Vous rejoindrez en tant que %(username)s.",
        "Accept the invitation": "Accepter l’invitation",
        "Invite": "Inviter",
        "Invitations not yet accepted": "Invitations pas encore acceptées",
        "Valid until": "Valable jusqu’au",
        "Invitation for %(email)s created, valid until %(expiry)s.": "Invitation pour %(email)s créée, valable jusqu’au %(expiry)s.",
        "The link for %(email)s: it was e-mailed if this site sends mail. Copy it now to send it yourself: it is shown only this once.": "Le lien pour %(email)s : il a été envoyé par e-mail si ce site envoie des e-mails. Copiez-le maintenant pour l’envoyer vous-même : il n’est affiché que cette fois.",
        "This invitation is for an e-mail address, and your account has none: ask an admin to set yours, then open the link again.": "Cette invitation est destinée à une adresse e-mail et votre compte n’en a pas : demandez à un administrateur de renseigner la vôtre, puis rouvrez le lien.",
        "This invitation was sent to another e-mail address than your account's (%(email)s): log in with the invited account, or ask for an invitation to your address.": "Cette invitation a été envoyée à une autre adresse e-mail que celle de votre compte (%(email)s) : connectez-vous avec le compte invité, ou demandez une invitation à votre adresse.",
    }
)
# Two-factor sign-in (issue 14).
FR.update(
    {
        "This account uses two-factor sign-in: send the current code.": (
            "Ce compte utilise la connexion à deux facteurs : envoyez le code actuel."
        ),
        "This code does not match.": "Ce code ne correspond pas.",
        "Your role requires two-factor sign-in: set up an authenticator in the web interface "
        "first (Two-factor).": (
            "Votre rôle exige la connexion à deux facteurs : configurez d’abord une application "
            "d’authentification dans l’interface web (Deux facteurs)."
        ),
        "Start the set-up again: no authenticator is pending.": (
            "Recommencez la configuration : aucune application n’est en attente."
        ),
        "This code does not match: check the clock of your device and try again.": (
            "Ce code ne correspond pas : vérifiez l’heure de votre appareil et réessayez."
        ),
        "Set up an authenticator first.": "Configurez d’abord une application d’authentification.",
        "Your role requires two-factor sign-in: you can replace your authenticator, not turn it "
        "off.": (
            "Votre rôle exige la connexion à deux facteurs : vous pouvez remplacer votre "
            "application, pas la désactiver."
        ),
        "Only platform admins can reset another user's sign-in.": (
            "Seuls les administrateurs de la plateforme peuvent réinitialiser la connexion d’un "
            "autre utilisateur."
        ),
        "Two-factor sign-in is on.": "La connexion à deux facteurs est activée.",
        "Two-factor sign-in is off.": "La connexion à deux facteurs est désactivée.",
        "This code does not match (or you tried too often: wait a little).": (
            "Ce code ne correspond pas (ou trop d’essais : patientez un peu)."
        ),
        "Two-factor sign-in": "Connexion à deux facteurs",
        "A code from an authenticator app after the password: required for platform roles, "
        "optional for everyone else.": (
            "Un code d’une application d’authentification après le mot de passe : obligatoire "
            "pour les rôles de plateforme, facultatif pour les autres."
        ),
        "Set up or manage two-factor sign-in": "Configurer ou gérer la connexion à deux facteurs",
        "Your recovery codes": "Vos codes de secours",
        "Keep them somewhere safe: each one signs you in once if you lose your authenticator. "
        "They are shown this once only.": (
            "Gardez-les en lieu sûr : chacun permet une connexion si vous perdez votre "
            "application. Ils ne sont affichés qu’une fois."
        ),
        "Continue": "Continuer",
        "on": "activée",
        "You sign in with your password and a code from your authenticator app.": (
            "Vous vous connectez avec votre mot de passe et un code de votre application "
            "d’authentification."
        ),
        "%(left)s recovery code left.": (
            "%(left)s code de secours restant.",
            "%(left)s codes de secours restants.",
        ),
        "New recovery codes": "Nouveaux codes de secours",
        "Replace the authenticator": "Remplacer l’application",
        "Your role requires two-factor sign-in: it cannot be turned off.": (
            "Votre rôle exige la connexion à deux facteurs : elle ne peut pas être désactivée."
        ),
        "Your role (platform admin or finance) requires two-factor sign-in: set it up to go on.": (
            "Votre rôle (administrateur de la plateforme ou finance) exige la connexion à deux "
            "facteurs : configurez-la pour continuer."
        ),
        "Optional for your account: after your password, Nuage will ask for a code from your "
        "phone.": (
            "Facultatif pour votre compte : après votre mot de passe, Nuage demandera un code de "
            "votre téléphone."
        ),
        "Scan this QR code with an authenticator app (FreeOTP, Aegis, Google Authenticator, "
        "1Password…).": (
            "Scannez ce code QR avec une application d’authentification (FreeOTP, Aegis, Google "
            "Authenticator, 1Password…)."
        ),
        "QR code of the secret": "Code QR du secret",
        "Or type this secret into the app (time-based, 6 digits, 30 seconds):": (
            "Ou saisissez ce secret dans l’application (basé sur le temps, 6 chiffres, "
            "30 secondes) :"
        ),
        "Enter the code the app shows now:": "Saisissez le code que l’application affiche :",
        "Code": "Code",
        "Turn on": "Activer",
        "Enter your code": "Saisissez votre code",
        "Open your authenticator app and type the 6-digit code it shows for Nuage, or one of "
        "your recovery codes.": (
            "Ouvrez votre application d’authentification et saisissez le code à 6 chiffres "
            "qu’elle affiche pour Nuage, ou l’un de vos codes de secours."
        ),
        "Verify": "Vérifier",
    }
)

# Issue 13: a waiting resize withdrawn; a VM being exported keeps its disks as they are.
FR.update(
    {
        "Withdraw the resize": "Retirer le redimensionnement",
        "This VM has no snapshot schedule.": "Cette VM n’a pas d’instantanés planifiés.",
        "The resize of %(name)s is withdrawn; it keeps its flavor.": "Le redimensionnement de %(name)s est retiré ; elle garde son gabarit.",
        "%(name)s is being exported as an OVA; its disks must not change meanwhile. Try again when the export is ready or has failed.": "%(name)s est en cours d’export en OVA ; ses disques ne doivent pas changer d’ici là. Réessayez quand l’export est prêt ou a échoué.",
    }
)

# Issue 13: the export card and the import form in plainer words.
FR.update(
    {
        "Stop the VM to export it as an OVA file (its description and its disks) that VirtualBox, VMware or another Nuage can import.": "Arrêtez la VM pour l’exporter en fichier OVA (sa description et ses disques) que VirtualBox, VMware ou un autre Nuage peuvent importer.",
        "An OVA file exported by Nuage, VirtualBox or VMware. Its description gives the CPUs, memory and operating system; its disk becomes the image's disk on every host. Members then request VMs from it with a flavor at least that large.": "Un fichier OVA exporté par Nuage, VirtualBox ou VMware. Sa description donne les processeurs, la mémoire et le système d’exploitation ; son disque devient le disque de l’image sur chaque hôte. Les membres demandent ensuite des VM à partir de celle-ci avec un gabarit au moins aussi grand.",
        "Only for a disk that cannot start by itself: the file on the hosts of the kernel to start it with.": "Seulement pour un disque qui ne démarre pas seul : le fichier, sur les hôtes, du noyau avec lequel le démarrer.",
    }
)

# Issue 15, looks and reach: the navigation.
FR.update(
    {
        "Skip to content": "Aller au contenu",
        "Menu": "Menu",
        "Main": "Principale",
        "Platform": "Plateforme",
        "Your account": "Votre compte",
    }
)

# Session expiry, error pages, stop and maintenance, leases.
FR.update(
    {
        "Your session had ended, so what you sent was not done. Log in again: you will be back on the page, with what you had typed, to send it again.": "Votre session avait pris fin : votre envoi n’a pas été effectué. Reconnectez-vous : vous reviendrez sur la page, avec ce que vous aviez saisi, pour l’envoyer à nouveau.",
        "What you were sending is back in its form below, as you left it: check it and send it again.": "Ce que vous envoyiez est de retour dans son formulaire ci-dessous, tel que vous l’aviez laissé : vérifiez-le et envoyez-le à nouveau.",
    }
)
FR.update(
    {
        "Page not found": "Page introuvable",
        "This page is not here": "Cette page n’existe pas ici",
        "The address may be mistyped, the item may have been deleted, or it belongs to a tenant or role you do not have.": "L’adresse est peut-être mal saisie, l’élément a peut-être été supprimé, ou il relève d’un locataire ou d’un rôle que vous n’avez pas.",
        "Back to my VMs": "Retour à mes VM",
        "Not allowed": "Non autorisé",
        "You cannot do this": "Vous ne pouvez pas faire cela",
        "Your role does not allow this action. A tenant admin can change your role if you need it.": "Votre rôle ne permet pas cette action. Un administrateur du locataire peut modifier votre rôle si vous en avez besoin.",
        "Something went wrong": "Une erreur s’est produite",
        "Something went wrong on our side": "Une erreur s’est produite de notre côté",
        "Nothing you did caused this, and it has been recorded for the operators. Try again in a moment; if it keeps happening, tell your platform team the time it happened.": "Vous n’y êtes pour rien, et l’incident a été enregistré pour les opérateurs. Réessayez dans un instant ; si cela se reproduit, indiquez à l’équipe de la plateforme l’heure à laquelle c’est arrivé.",
        "Back to Nuage": "Retour à Nuage",
    }
)
FR.update(
    {
        "Only a running or stopping VM can be forced off; this one is %(state)s.": "Seule une VM en marche ou en arrêt peut être éteinte de force ; celle-ci est %(state)s.",
        "Powered off at the user's request, without waiting for the guest.": "Éteinte à la demande de l’utilisateur, sans attendre le système invité.",
        "%(name)s is being powered off.": "%(name)s est en cours d’extinction.",
        "Powering off now, without waiting for the guest.": "Extinction immédiate, sans attendre le système invité.",
        "The guest has been asked to shut down. If it has not within <strong data-countdown>%(seconds)s</strong> second, it is powered off.": (
            "Le système invité a été prié de s’arrêter. S’il ne l’a pas fait d’ici <strong data-countdown>%(seconds)s</strong> seconde, la VM est éteinte.",
            "Le système invité a été prié de s’arrêter. S’il ne l’a pas fait d’ici <strong data-countdown>%(seconds)s</strong> secondes, la VM est éteinte.",
        ),
        "The guest will be asked to shut down, and powered off if it has not within %(grace)s s.": "Le système invité va être prié de s’arrêter ; la VM sera éteinte s’il ne l’a pas fait d’ici %(grace)s s.",
        "Power the VM off now? Whatever the guest has not written to its disk is lost, as when pulling the plug.": "Éteindre la VM maintenant ? Ce que le système invité n’a pas écrit sur son disque est perdu, comme en débranchant la prise.",
        "Force off": "Forcer l’extinction",
        "Maintenance of %(host)s": "Maintenance de %(host)s",
        "Put %(host)s in maintenance?": "Mettre %(host)s en maintenance ?",
        "No new VM will be placed on it. Its running VMs move to other hosts by live migration, without stopping; stopped VMs stay where they are.": "Aucune nouvelle VM n’y sera placée. Ses VM en marche partent vers d’autres hôtes par migration à chaud, sans s’arrêter ; les VM arrêtées restent où elles sont.",
        "%(n)s VM will move now.": (
            "%(n)s VM va être déplacée maintenant.",
            "%(n)s VM vont être déplacées maintenant.",
        ),
        "%(n)s VM cannot move yet (see below).": (
            "%(n)s VM ne peut pas encore être déplacée (voir ci-dessous).",
            "%(n)s VM ne peuvent pas encore être déplacées (voir ci-dessous).",
        ),
        "Moves to": "Part vers",
        "after its current operation": "après son opération en cours",
        "after the change under way on one of its data volumes": "après le changement en cours sur l’un de ses volumes de données",
        "no room on another host yet: moves when room appears": "pas encore de place sur un autre hôte : partira quand il y en aura",
        "Destinations are the placement's choice now; they may differ if the pool changes before the moves start.": "Les destinations sont le choix du placement à cet instant ; elles peuvent changer si le parc évolue avant le début des déplacements.",
        "No VM runs on it: nothing will move.": "Aucune VM n’y tourne : rien ne sera déplacé.",
        "Enter maintenance…": "Mettre en maintenance…",
    }
)

# Issue 15, looks and reach: human units (Gio, not 131072 Mio).
FR.update(
    {
        "GiB": "Gio",
        "TiB": "Tio",
        "PiB": "Pio",
        "%(vcpus)s vCPU · %(ram)s · %(disk)s": "%(vcpus)s vCPU · %(ram)s · %(disk)s",
        "Over the last 24 hours it used on average %(cpu)s of its %(vcpus)s vCPUs and %(mem)s of its %(ram)s of memory.": "Sur les dernières 24 heures, elle a utilisé en moyenne %(cpu)s de ses %(vcpus)s vCPU et %(mem)s de ses %(ram)s de mémoire.",
        "Memory used (mean)": "Mémoire utilisée (moyenne)",
        "%(size)s disk": "disque de %(size)s",
        "%(cpu)s CPU, %(mem)s": "%(cpu)s CPU, %(mem)s",
    }
)

# Issue 15, looks and reach: the VM list's switch and filters, the audit log in words.
FR.update(
    {
        "Tenant VMs": "VM du locataire",
        "All environments": "Tous les environnements",
        "Whose VMs": "VM de qui",
        "All actions": "Toutes les actions",
        "Budget removed": "Budget supprimé",
        "Budget set": "Budget défini",
        "Budget threshold reached": "Seuil du budget atteint",
        "Load-balancing move dismissed": "Déplacement d’équilibrage écarté",
        "Load balancing run": "Équilibrage de charge exécuté",
        "Load-balancing settings changed": "Réglages de l’équilibrage modifiés",
        "Load-balancing move out of date": "Déplacement d’équilibrage périmé",
        "Environment created": "Environnement créé",
        "Environment policy change approved": "Changement de règles d’environnement approuvé",
        "Environment policy change proposed": "Changement de règles d’environnement proposé",
        "Environment policy change rejected": "Changement de règles d’environnement refusé",
        "Environment changed": "Environnement modifié",
        "Flavor created": "Gabarit créé",
        "Flavor changed": "Gabarit modifié",
        "Host unreachable": "Hôte injoignable",
        "Host put in maintenance": "Hôte mis en maintenance",
        "Unknown guest removed from a host": "Invité inconnu retiré d’un hôte",
        "Host added": "Hôte ajouté",
        "Rolling maintenance cancelled": "Maintenance progressive annulée",
        "Rolling maintenance continued": "Maintenance progressive poursuivie",
        "Rolling maintenance started": "Maintenance progressive commencée",
        "Host reachable again": "Hôte de nouveau joignable",
        "Host changed": "Hôte modifié",
        "Image added": "Image ajoutée",
        "Image imported": "Image importée",
        "Invitation accepted": "Invitation acceptée",
        "Invitation sent": "Invitation envoyée",
        "Invitation withdrawn": "Invitation retirée",
        "Credit note issued": "Avoir émis",
        "Invoice drafted": "Facture préparée",
        "Invoice issued": "Facture émise",
        "SSH key added": "Clé SSH ajoutée",
        "SSH key removed": "Clé SSH supprimée",
        "Member added": "Membre ajouté",
        "Member removed": "Membre retiré",
        "Member's role changed": "Rôle d’un membre modifié",
        "Network created": "Réseau créé",
        "Network deleted": "Réseau supprimé",
        "Network shared": "Réseau partagé",
        "Network sharing withdrawn": "Partage de réseau retiré",
        "Network changed": "Réseau modifié",
        "Single sign-on account linked": "Compte d’authentification unique lié",
        "Price list created": "Grille tarifaire créée",
        "Price list deleted": "Grille tarifaire supprimée",
        "Price list ended": "Grille tarifaire terminée",
        "Default quotas changed": "Quotas par défaut modifiés",
        "Quota changed": "Quota modifié",
        "Quota increase approved": "Augmentation de quota approuvée",
        "Quota increase requested": "Augmentation de quota demandée",
        "Quota increase rejected": "Augmentation de quota refusée",
        "Billing details changed": "Coordonnées de facturation modifiées",
        "Tenant created": "Locataire créé",
        "API token created": "Jeton d’API créé",
        "API token revoked": "Jeton d’API révoqué",
        "Two-factor sign-in turned off": "Connexion à deux facteurs désactivée",
        "Two-factor sign-in turned on": "Connexion à deux facteurs activée",
        "New recovery codes made": "Nouveaux codes de secours créés",
        "User created": "Utilisateur créé",
        "Password changed": "Mot de passe modifié",
        "VM adopted from a host": "VM reprise d’un hôte",
        "VM request approved": "Demande de VM approuvée",
        "VM request approved automatically": "Demande de VM approuvée automatiquement",
        "Console opened": "Console ouverte",
        "VM deletion requested": "Suppression de VM demandée",
        "VM vanished from its host": "VM disparue de son hôte",
        "VM exported": "VM exportée",
        "VM fenced on a lost host": "VM isolée sur un hôte perdu",
        "VM forced off": "VM éteinte de force",
        "VM restarted after a host failure": "VM redémarrée après une panne d’hôte",
        "VM's host back": "Hôte de la VM revenu",
        "VM's host lost": "Hôte de la VM perdu",
        "Live migration requested": "Migration à chaud demandée",
        "IP address given": "Adresse IP attribuée",
        "IP address released": "Adresse IP libérée",
        "VM request rejected": "Demande de VM refusée",
        "VM requested": "VM demandée",
        "VM resized": "VM redimensionnée",
        "Resize approved": "Redimensionnement approuvé",
        "Resize rejected": "Redimensionnement refusé",
        "Resize requested": "Redimensionnement demandé",
        "Resize request withdrawn": "Demande de redimensionnement retirée",
        "Snapshot taken": "Instantané pris",
        "VM reverted to a snapshot": "VM restaurée à un instantané",
        "Snapshot schedule removed": "Planification d’instantanés supprimée",
        "Snapshot schedule set": "Planification d’instantanés définie",
        "Start requested": "Démarrage demandé",
        "Stop requested": "Arrêt demandé",
        "Reboot requested": "Redémarrage demandé",
        "Volume attached": "Volume attaché",
        "Volume created": "Volume créé",
        "Volume deleted": "Volume supprimé",
        "Volume detached": "Volume détaché",
        "Volume operation failed": "Opération sur un volume échouée",
        "Volume grown": "Volume agrandi",
        "Webhook added": "Webhook ajouté",
        "Webhook removed": "Webhook supprimé",
        "Webhook changed": "Webhook modifié",
        "Creation": "Création",
        "Deletion": "Suppression",
        "Snapshot deletion": "Suppression d’instantané",
        "%(operation)s finished": "%(operation)s : terminé",
        "%(operation)s failed": "%(operation)s : échec",
        "Changed in the administration (%(code)s)": "Modifié dans l’administration (%(code)s)",
    }
)

FR.update(
    {
        "This VM has no lease: its environment sets no lifetime.": "Cette VM n’a pas de bail : son environnement ne fixe pas de durée de vie.",
        "A lease can only be extended on a VM that exists; this one is %(state)s.": "Un bail ne se prolonge que pour une VM qui existe ; celle-ci est %(state)s.",
        "Give a whole number of days from 1 to 3650.": "Indiquez un nombre entier de jours entre 1 et 3650.",
        "Leases in %(env)s last at most %(max)s days from today; ask an approver for longer.": "Les baux de %(env)s durent au plus %(max)s jours à partir d’aujourd’hui ; demandez à un approbateur pour plus longtemps.",
        "Tell the approvers why the VM needs longer.": "Dites aux approbateurs pourquoi la VM doit durer plus longtemps.",
        "%(user)s asks to extend the lease of %(vm)s by %(days)s days.": "%(user)s demande de prolonger le bail de %(vm)s de %(days)s jours.",
        "[Nuage] %(user)s asks for a longer lease of %(vm)s": "[Nuage] %(user)s demande un bail plus long pour %(vm)s",
        "%(user)s asks to extend the lease of %(vm)s (%(tenant)s / %(env)s) by %(days)s days, beyond the environment's maximum. It now expires on %(expires)s.\n\nReason: %(reason)s\n\nExtend it on its page: %(link)s\n": "%(user)s demande de prolonger le bail de %(vm)s (%(tenant)s / %(env)s) de %(days)s jours, au-delà du maximum de l’environnement. Il expire actuellement le %(expires)s.\n\nMotif : %(reason)s\n\nProlongez-le sur sa page : %(link)s\n",
        "%(vm)s expires on %(date)s: extend its lease or it will be stopped.": "%(vm)s expire le %(date)s : prolongez son bail, sinon elle sera arrêtée.",
        "[Nuage] %(vm)s expires on %(date)s": "[Nuage] %(vm)s expire le %(date)s",
        "The lease of your VM %(vm)s (%(tenant)s / %(env)s) ends on %(date)s. Then it is stopped, and deleted with its disk %(grace)s days later.\n\nExtend its lease on its page: %(link)s\n": "Le bail de votre VM %(vm)s (%(tenant)s / %(env)s) prend fin le %(date)s. Elle sera alors arrêtée, puis supprimée avec son disque %(grace)s jours plus tard.\n\nProlongez son bail sur sa page : %(link)s\n",
        "Your request went to the approvers of %(tenant)s.": "Votre demande a été envoyée aux approbateurs de %(tenant)s.",
        "The lease of %(name)s now ends in %(days)s days.": "Le bail de %(name)s prend désormais fin dans %(days)s jours.",
        "Give the lease VMs get, or leave both lease fields empty.": "Indiquez le bail que reçoivent les VM, ou laissez les deux champs de bail vides.",
        "The longest lease cannot be shorter than the default one.": "Le bail le plus long ne peut pas être plus court que le bail par défaut.",
        "Lease": "Bail",
        "The lease ended on %(date)s (%(zone)s).": "Le bail a pris fin le %(date)s (%(zone)s).",
        "The VM was stopped and will be deleted with its disk on %(date)s unless its lease is extended.": "La VM a été arrêtée et sera supprimée avec son disque le %(date)s, sauf si son bail est prolongé.",
        "Expires on %(date)s (%(zone)s), in %(days)s day.": (
            "Expire le %(date)s (%(zone)s), dans %(days)s jour.",
            "Expire le %(date)s (%(zone)s), dans %(days)s jours.",
        ),
        "Lease set on %(date)s.": "Bail fixé le %(date)s.",
        "When the lease ends the VM is stopped, then deleted with its disk after a grace period. You are told 7 days and 1 day before.": "À la fin du bail, la VM est arrêtée, puis supprimée avec son disque après un délai de grâce. Vous êtes prévenu 7 jours et 1 jour avant.",
        "Extend to end in": "Prolonger jusqu’à dans",
        "days from today": "jours à partir d’aujourd’hui",
        "Extend": "Prolonger",
        "At most %(max)s days; an approver can give more.": "Au plus %(max)s jours ; un approbateur peut accorder davantage.",
        "Ask an approver for longer": "Demander plus longtemps à un approbateur",
        "Days from today": "Jours à partir d’aujourd’hui",
        "Why it needs longer": "Pourquoi elle doit durer plus longtemps",
        "Send to the approvers": "Envoyer aux approbateurs",
        "VM lease (days)": "Bail des VM (jours)",
        "default": "par défaut",
        "at most": "au plus",
        "Empty: VMs live until deleted. Existing VMs get a full lease from when it is set.": "Vide : les VM vivent jusqu’à leur suppression. Les VM existantes reçoivent un bail complet à partir du moment où il est fixé.",
    }
)
FR.update(
    {
        "%(vm)s was stopped: its lease ended. It will be deleted with its disk on %(date)s unless you extend its lease.": "%(vm)s a été arrêtée : son bail a pris fin. Elle sera supprimée avec son disque le %(date)s, sauf si vous prolongez son bail.",
        "[Nuage] %(vm)s was stopped: its lease ended": "[Nuage] %(vm)s a été arrêtée : son bail a pris fin",
        "The lease of %(vm)s ended while it is in error. It will be deleted with its disk on %(date)s unless you extend its lease.": "Le bail de %(vm)s a pris fin alors qu’elle est en erreur. Elle sera supprimée avec son disque le %(date)s, sauf si vous prolongez son bail.",
        "[Nuage] The lease of %(vm)s ended": "[Nuage] Le bail de %(vm)s a pris fin",
        "Give the absolute path of the rootfs on the host, not %(path)s.": "Donnez le chemin absolu du rootfs sur l’hôte, pas %(path)s.",
        "There is no tarball at %(path)s.": "Il n’y a pas d’archive tar à %(path)s.",
        "%(path)s is not a readable tarball: %(error)s.": "%(path)s n’est pas une archive tar lisible : %(error)s.",
        "The tarball %(path)s has no %(init)s: it is not a root file system.": "L’archive %(path)s n’a pas de %(init)s : ce n’est pas un système de fichiers racine.",
        "There is no directory or tarball (%(suffixes)s) at %(path)s.": "Il n’y a ni répertoire ni archive tar (%(suffixes)s) à %(path)s.",
        "The directory %(path)s has no executable %(init)s: it is not a root file system.": "Le répertoire %(path)s n’a pas de %(init)s exécutable : ce n’est pas un système de fichiers racine.",
        "The export did not finish within %(minutes)s minutes and was stopped; the VM can start again. Try the export once more.": "L’export ne s’est pas terminé en %(minutes)s minutes et a été arrêté ; la VM peut redémarrer. Relancez l’export.",
        "The lease of your VM %(vm)s ended while it is in error. It will be deleted with its disk on %(date)s unless you extend its lease: %(link)s\n": "Le bail de votre VM %(vm)s a pris fin alors qu’elle est en erreur. Elle sera supprimée avec son disque le %(date)s, sauf si vous prolongez son bail : %(link)s\n",
        "The lease of your VM %(vm)s ended, so it was stopped. It will be deleted with its disk on %(date)s unless you extend its lease: %(link)s\n": "Le bail de votre VM %(vm)s a pris fin : elle a donc été arrêtée. Elle sera supprimée avec son disque le %(date)s, sauf si vous prolongez son bail : %(link)s\n",
        "%(vm)s was deleted with its disk: its lease had ended.": "%(vm)s a été supprimée avec son disque : son bail avait pris fin.",
    }
)

# System containers (issue 16)
FR.update(
    {
        "Virtual machine": "Machine virtuelle",
        "Container": "Conteneur",
        "Stop by itself": "S’arrêter de lui-même",
        "Copying the root file system": "Copie du système de fichiers racine",
        "Removing the root file system": "Suppression du système de fichiers racine",
        "Root file system (system containers)": "Système de fichiers racine (conteneurs système)",
        "LXC (system containers)": "LXC (conteneurs système)",
        "An LXC URI has no path: lxc:/// or lxc+ssh://root@host/.": "Une URI LXC n’a pas de chemin : lxc:/// ou lxc+ssh://root@hote/.",
        "Use a libvirt URI starting with qemu://, qemu+tcp://, qemu+ssh://, qemu+tls://, lxc:// (system containers) or test:// (for example qemu:///system).": "Utilisez une URI libvirt commençant par qemu://, qemu+tcp://, qemu+ssh://, qemu+tls://, lxc:// (conteneurs système) ou test:// (par exemple qemu:///system).",
        "rootfs path": "chemin du rootfs",
        "An LXC host has an lxc:// URI, as in lxc:/// or lxc+ssh://host/.": "Un hôte LXC a une URI lxc://, comme lxc:/// ou lxc+ssh://hote/.",
        "An lxc:// URI is a host for system containers: domain type lxc.": "Une URI lxc:// désigne un hôte de conteneurs système : type de domaine lxc.",
        "The host at %(uri)s has no LXC driver (install libvirt-daemon-driver-lxc there and restart libvirtd): %(error)s": "L’hôte %(uri)s n’a pas de pilote LXC (installez-y libvirt-daemon-driver-lxc et redémarrez libvirtd) : %(error)s",
        "The host at %(uri)s answers with the %(driver)s driver, not LXC.": "L’hôte %(uri)s répond avec le pilote %(driver)s, pas LXC.",
        "No LXC host has %(ram)s MiB of memory (the largest has %(max)s MiB).": "Aucun hôte LXC n’a %(ram)s Mio de mémoire (le plus grand en a %(max)s Mio).",
        "No LXC host has %(n)s CPUs.": "Aucun hôte LXC n’a %(n)s processeurs.",
        "A rootfs image needs the path of its directory or tarball.": "Une image rootfs a besoin du chemin de son répertoire ou de son archive tar.",
        "Only a rootfs image has a rootfs path.": "Seule une image rootfs a un chemin de rootfs.",
        "A container needs a container flavor.": "Un conteneur a besoin d’un gabarit de conteneur.",
        "A container flavor is for containers: request kind container.": "Un gabarit de conteneur est pour les conteneurs : demandez le type container.",
        "A container runs a rootfs image.": "Un conteneur utilise une image rootfs.",
        "A rootfs image is for containers: request kind container.": "Une image rootfs est pour les conteneurs : demandez le type container.",
        "Containers get no network interface (a loopback of their own).": "Les conteneurs n’ont pas d’interface réseau (seulement leur propre boucle locale).",
        "Containers take no SSH keys: use their console from the container's page.": "Les conteneurs ne prennent pas de clé SSH : utilisez leur console depuis la page du conteneur.",
        "Request a vm or a container.": "Demandez une vm ou un container.",
        "The container stopped by itself on host %(host)s.": "Le conteneur s’est arrêté de lui-même sur l’hôte %(host)s.",
        "Containers' root file systems are copied by the worker on its own machine: run a worker on host %(host)s and register it there as lxc:///.": "Les systèmes de fichiers racine des conteneurs sont copiés par le worker sur sa propre machine : lancez un worker sur l’hôte %(host)s et enregistrez-le comme lxc:///.",
        "Root file system %(path)s copied from %(image)s.": "Système de fichiers racine %(path)s copié depuis %(image)s.",
        "Existing root file system %(path)s kept.": "Système de fichiers racine existant %(path)s conservé.",
        "Root file system removed.": "Système de fichiers racine supprimé.",
        "No root file system to remove.": "Aucun système de fichiers racine à supprimer.",
        "Container defined.": "Conteneur défini.",
        "Existing container adopted.": "Conteneur existant adopté.",
        "Container running.": "Conteneur en marche.",
        "Container stopped.": "Conteneur arrêté.",
        "Container did not stop in time; destroyed.": "Le conteneur ne s’est pas arrêté à temps ; détruit.",
        "Container restarted.": "Conteneur redémarré.",
        "Container destroyed, then started.": "Conteneur détruit, puis démarré.",
    }
)
FR.update(
    {
        "VMs and containers": "VM et conteneurs",
        "container": "conteneur",
        "System container": "Conteneur système",
    }
)
FR.update({"A container cannot be live-migrated.": "Un conteneur ne peut pas être migré à chaud."})
FR.update(
    {
        "%(name)s is a container: it has no disks to snapshot, attach or export, and keeps its flavor (request a new container to change it).": "%(name)s est un conteneur : il n’a pas de disque à capturer, attacher ou exporter, et garde son gabarit (demandez un nouveau conteneur pour le changer).",
    }
)
FR.update(
    {
        "Root file system copied from image %(image)s.": "Système de fichiers racine copié depuis l’image %(image)s.",
        "Existing root file system kept.": "Système de fichiers racine existant conservé.",
    }
)

# Issue 15, looks and reach: words instead of jargon on the VM page.
FR.update(
    {
        "Only the flavor's size": "Seulement la taille du gabarit",
        "the host says it is": "selon l’hôte",
    }
)

# OVA imports on a worker: the import job, its page and its sweep.
FR.update(
    {
        "Queued": "En file d’attente",
        "Converting the disk": "Conversion du disque",
        "Copying to the hosts": "Copie vers les hôtes",
        "OVA import started": "Import d’OVA lancé",
        "An import of an image named %(name)s is already under way.": "Un import d’une image nommée %(name)s est déjà en cours.",
        "The uploaded OVA is gone from the server; upload it again.": "L’OVA téléversée n’est plus sur le serveur ; téléversez-la à nouveau.",
        "The OVA must hold one disk.": "L’OVA doit contenir un seul disque.",
        "The import failed: %(error)s": "L’import a échoué : %(error)s",
        "The import did not finish within %(minutes)s minutes, or its worker stopped, and it was given up; nothing of it was kept. Upload the OVA again.": "L’import ne s’est pas terminé en %(minutes)s minutes, ou son processus s’est arrêté, et il a été abandonné ; rien n’en a été conservé. Téléversez à nouveau l’OVA.",
        "Import of %(name)s started: its disk is now checked, converted and copied to the hosts.": "Import de %(name)s lancé : son disque est maintenant vérifié, converti et copié vers les hôtes.",
        "Import of %(name)s": "Import de %(name)s",
        "%(done)s of %(total)s hosts": "%(done)s hôtes sur %(total)s",
        "Uploaded": "Téléversement",
        "Finished": "Terminé",
        "See the images": "Voir les images",
        "Nothing of it was kept on the hosts.": "Rien n’en a été conservé sur les hôtes.",
        "The import runs in the background: the OVA's disk is checked, converted and copied to every host. This page follows it; you may leave it.": "L’import se fait en arrière-plan : le disque de l’OVA est vérifié, converti et copié vers chaque hôte. Cette page le suit ; vous pouvez la quitter.",
        "Recent imports": "Imports récents",
        "Where to follow the import (GET).": "Où suivre l’import (GET).",
        "The image, once `status` is done.": "L’image, une fois `status` à done.",
    }
)

# A live-migrated VM gets its memory hard limit again on its new host.
FR.update(
    {
        "Applying resource limits": "Application des limites de ressources",
        "No memory hard limit to apply.": "Aucune limite stricte de mémoire à appliquer.",
        "The container's limits are in its definition.": "Les limites du conteneur sont dans sa définition.",
    }
)
