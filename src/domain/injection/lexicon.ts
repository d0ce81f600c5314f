// Classes of words that say what an instruction to a model is made of, in the six languages the
// detector reads: who is addressed (an automated reader), who is spoken of (the user), an
// obligation, secrecy, overriding, sending, secrets, instructions, reading or processing, the
// second person, immediacy, a risky act, telling, negation, what is the user's. The classifier
// gets each word's class as a feature, and the pair it forms with the class of the classed word
// before it (tokens.ts): a synonym it never saw in training counts as its class does, and
// "an automated reader … must … send … passwords" reads as a chain of classes whatever the words.
//
// Words are written as in text and read through the classifier's fold (lowercase, accents
// dropped); an entry ending in `*` stands for every word that begins with it (its first five
// letters, tokens.ts's stem, so such an entry has five letters). A Chinese entry is one ideograph,
// or two read as the pair they form.

/** The classes, in the order of their ids (1, 2, …: 0 is no class). */
export const CLASS_NAMES = ['agent', 'user', 'must', 'secrecy', 'override', 'send', 'secret', 'instructions', 'reading', 'you', 'now', 'act', 'tell', 'not', 'private'] as const;

/** Each class's words, space-separated (CLASS_NAMES' order). */
export const CLASS_WORDS: Record<(typeof CLASS_NAMES)[number], string> = {
  agent:
    'ai assistant assistants agent agents llm llms chatbot chatbots bot bots copilot gpt chatgpt claude gemini model models summarizer summariser crawler crawlers scraper automation automated autonomous agentic ki sprachmodell sprachmodelle assistent assistenten ia ias modèle modèles asistente asistentes modelo modelos agente agentes ии нейросеть нейросети ассистент* агент* модель модели бот боты бота боту помощник* 助手 模型 智能 代理 机器',
  user: 'user users human operator owner customer nutzer nutzers benutzer benutzers anwender utilisateur utilisatrice utilisateurs usuario usuaria usuarios пользователь пользователя пользователю пользователем пользователе пользователи пользователей пользователям юзер 用户 使用',
  must: 'must should shall required instructed mandatory need needs expected obliged muss müssen musst soll sollen sollst verpflichtet verpflichtend erforderlich doit doivent dois devra devez devrait obligatoire tenu tenus debe deben debes deberá tienes obligatorio obligado должен должна должно должны обязан обязана обязаны обязательно нужно надо требуется 必须 应当 应该 务必 需要 要求',
  secrecy:
    'silently quietly secretly discreetly covertly unnoticed confidential hide conceal secret unauffällig heimlich leise verschweige verberge geheim discrètement secrètement cacher discreción discretamente sigilosamente oculta ocultar secreto тихо незаметно тайно скрой скрыть втайне секрет 悄悄 偷偷 秘密 隐藏 保密',
  override:
    'ignore ignoring disregard forget override overrides bypass supersede supersedes precedence cancelled ignoriere ignorier ignorieren vergiss vergessen missachte vorrang oublie oubliez annulée ignora olvida olvídate descarta prioridad игнорир* проигнорируй забудь отмени отменена важнее 忽略 无视 忘记 忘掉 作废 优先',
  send: 'send sends forward upload paste email share leak exfiltrate transmit relay bcc attach schicke schick sende senden leite weiterleiten lade hochladen poste teile übermittle exportiere envoie envoyer transfère transférer téléverse publie partage colle transmets exporte envía enviar reenvía reenviar sube publica comparte pega manda exporta transmite отправь отправить перешли переслать загрузи опубликуй вставь передай выгрузи пришли 发送 转发 上传 发到 发给 共享 密送',
  secret:
    'password passwords credentials credential token tokens ssh rsa cookie cookies secrets otp 2fa passwort passwörter zugangsdaten schlüssel kennwort passe jeton jetons clé clés identifiants contraseña contraseñas clave claves credenciales пароль пароли паролей ключ ключи токен токены куки реквизиты 密码 密钥 令牌 凭证 口令',
  instructions:
    'instructions instruction prompt prompts guidelines rules directive directives orders guidance configuration anweisungen anweisung vorgaben systemprompt richtlinien regeln consignes consigne règles instrucciones instrucción indicaciones directivas reglas инструкции инструкций указания указание промпт правила 指令 指示 提示 规则 设定',
  reading:
    'reading processing summarizing summarising parsing handling analyzing analysing browsing indexing scanning crawling reviewing triaging evaluating liest verarbeitet zusammenfasst auswertet bearbeitet analysiert lit traite résume analyse parcourt lee procesa resume analiza gestiona читающий читающая обрабатывающий пересказывающий анализирующий просматривающий 阅读 处理 总结 读取 分析',
  you: 'you your yours yourself du dein deine deinen deiner dir dich tu toi ton ta tes te tú tus ты тебе тебя твой твоя твои твоё 你',
  now: 'now immediately instead asap urgent urgently sofort stattdessen jetzt dringend immédiatement maintenant désormais plutôt inmediatamente ahora urgente немедленно сразу срочно вместо теперь 立即 马上 立刻 而是 现在',
  act: 'delete wipe transfer wire pay refund grant invite disable execute approve purchase buy revoke lösche überweise bezahle deaktiviere führe installiere genehmige supprime vire paie désactive exécute installe approuve borra elimina transfiere paga desactiva ejecuta instala aprueba удали переведи оплати отключи выполни запусти установи одобри 删除 转账 支付 关闭 执行 运行 安装 批准',
  tell: 'tell say inform mention reveal notify alert disclose claim assure confirm sag sage erwähne verrate informiere behaupte bestätige dis dire mentionne révèle affirme confirme préviens digas dile menciones reveles informa asegura confirma говори скажи сообщи упоминай раскрой заяви подтверди 告诉 透露 提及 声称 通知',
  not: 'not never without no nicht nie niemals ohne kein ne jamais sans pas nunca sin не никогда без 不 别 勿',
  private:
    'inbox emails messages conversation history contacts calendar files documents database address phone card account location postfach nachrichten chatverlauf kontakte kalender dateien datenbank konto messagerie agenda fichiers compte buzón correos mensajes conversación contactos archivos cuenta почта письма переписку контакты календарь файлы аккаунт счёт 邮件 邮箱 对话 联系 日历 文件 账户 数据',
};
