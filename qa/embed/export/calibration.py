"""Texts the int8 export runs through the float graph to measure activation ranges.

Written for this purpose (no benchmark or evaluation text): short news-like paragraphs,
questions and number-heavy lines in the languages the service is used in, each as a
passage and as a question (``"passage: "`` and ``"query: "`` prefixes are added by the
exporter). The ranges measured are a property of the model more than of the text: a few
hidden channels of every layer-norm output are an order of magnitude larger than the
rest whatever the input, and this set finds them.
"""

CALIBRATION_TEXTS = (
    # Portuguese
    (
        "O Banco Central manteve a taxa básica de juros em 10,5% ao ano na reunião desta "
        "quarta-feira, citando a inflação de serviços ainda elevada e a incerteza sobre o "
        "cenário externo. Analistas esperam cortes apenas no segundo semestre."
    ),
    (
        "A seca no Pantanal reduziu o nível do rio Paraguai ao menor patamar em décadas. "
        "Pescadores e empresas de turismo relatam prejuízos, e o transporte de grãos por "
        "barcaças foi suspenso em trechos do rio."
    ),
    (
        "Pesquisadores da universidade desenvolveram um sensor de baixo custo que detecta "
        "contaminação da água por metais pesados em poucos minutos, usando papel tratado com "
        "nanopartículas e a câmera de um celular."
    ),
    (
        "A seleção venceu por 2 a 1 com um gol aos 44 minutos do segundo tempo. O técnico "
        "elogiou a defesa, mas disse que a equipe precisa melhorar a saída de bola antes das "
        "eliminatórias."
    ),
    (
        "Como funciona a declaração do imposto de renda? O contribuinte deve informar "
        "rendimentos, bens e dívidas até o fim de maio; quem perde o prazo paga multa mínima "
        "de 165 reais."
    ),
    (
        "A empresa anunciou lucro líquido de R$ 3,2 bilhões no trimestre, alta de 18% em "
        "relação ao mesmo período do ano anterior, impulsionado pelas exportações de minério "
        "de ferro para a China."
    ),
    # English
    (
        "The company said its new chip delivers twice the performance per watt of the "
        "previous generation, and that shipments to cloud providers will begin in the third "
        "quarter. Shares rose 4% in after-hours trading."
    ),
    (
        "Researchers found that the glacier lost nearly 30 metres of thickness between 2000 "
        "and 2020, contributing to sea-level rise. The study combined satellite altimetry "
        "with field measurements taken every summer."
    ),
    (
        "What are the side effects of the vaccine? Most people report a sore arm, tiredness "
        "or a mild fever for a day or two; serious reactions are rare and are monitored by "
        "national health agencies."
    ),
    (
        "The central bank raised interest rates by a quarter of a percentage point, its fifth"
        " increase this year, saying that inflation remains well above its 2% target despite "
        "slowing wage growth."
    ),
    (
        "In the final, the defending champion saved two match points before winning the "
        "deciding set 7-6. It was her third title at the tournament and the twentieth of her "
        "career."
    ),
    (
        "To reset the router, hold the button on the back for ten seconds until the lights "
        "blink, then wait two minutes and reconnect using the network name printed on the "
        "label."
    ),
    # Spanish
    (
        "El gobierno aprobó un plan de inversión de 5.000 millones de euros para modernizar "
        "la red ferroviaria, con nuevas líneas de alta velocidad y la renovación de trenes de"
        " cercanías en las principales ciudades."
    ),
    (
        "Los arqueólogos hallaron restos de una ciudad maya con pirámides, plazas y calzadas "
        "ocultas bajo la selva, gracias a un escaneo láser realizado desde un avión."
    ),
    (
        "¿Cuánto cuesta estudiar en una universidad pública? La matrícula depende de la "
        "comunidad autónoma y del número de créditos, y los estudiantes con buenas notas "
        "pueden obtener becas."
    ),
    # French
    (
        "Le Parlement a adopté la réforme des retraites après des semaines de débats et de "
        "manifestations. Le texte repousse l'âge légal de départ et allonge la durée de "
        "cotisation."
    ),
    (
        "Les chercheurs ont observé pour la première fois une étoile en train d'avaler une "
        "planète, un phénomène qui attend aussi la Terre dans environ cinq milliards "
        "d'années."
    ),
    (
        "Quels documents faut-il pour renouveler un passeport ? Une photo d'identité récente,"
        " un justificatif de domicile et l'ancien passeport, à présenter en mairie sur "
        "rendez-vous."
    ),
    # German
    (
        "Die Regierung kündigte an, den Ausbau der Windenergie an Land zu beschleunigen. "
        "Genehmigungsverfahren sollen kürzer werden, und zwei Prozent der Landesfläche werden"
        " für Windräder reserviert."
    ),
    (
        "Forscher haben ein Enzym entdeckt, das Plastikflaschen innerhalb weniger Tage "
        "zersetzt. Das Verfahren könnte das Recycling von Kunststoffen deutlich effizienter "
        "machen."
    ),
    (
        "Wie lange dauert die Lieferung? Bestellungen, die vor 14 Uhr eingehen, werden am "
        "selben Tag verschickt und erreichen die meisten Adressen innerhalb von zwei "
        "Werktagen."
    ),
    # Italian and mixed
    (
        "Il museo ha riaperto dopo tre anni di restauri con una nuova sala dedicata ai "
        "dipinti del Rinascimento e un percorso accessibile ai visitatori con disabilità."
    ),
    (
        "CEO: 'We expect revenue of $12.4bn (±2%)' — Q3 2024 guidance; EBITDA margin 31.5%; "
        "capex 1.8bn; 14,000 employees in 37 countries. Tickers: NVDA, TSM, ASML."
    ),
    (
        "Contato: suporte@exemplo.com.br · (11) 4002-8922 · https://exemplo.com.br/ajuda — "
        "atendimento de segunda a sexta, das 8h às 20h."
    ),
)
