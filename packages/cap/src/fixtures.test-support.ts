// Alerts shaped like those a French prefecture's alerting system sends, for tests.

export const PREFECTURE = 'pref-indre-et-loire@interieur.gouv.fr';

export const FLOOD_ALERT = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>PREF37-2025-0142</identifier>
  <sender>${PREFECTURE}</sender>
  <sent>2025-01-20T08:30:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <category>Safety</category>
    <event>Crue de la Loire</event>
    <responseType>Avoid</responseType>
    <urgency>Expected</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <onset>2025-01-20T18:00:00+01:00</onset>
    <expires>2025-01-22T12:00:00+01:00</expires>
    <senderName>Préfecture d'Indre-et-Loire</senderName>
    <headline>Vigilance orange crues : la Loire à Tours</headline>
    <description>
      La Loire devrait atteindre 4,50 m à l'échelle de Tours (pont Wilson) dans la soirée.
      Débordements attendus sur les quais, à Saint-Pierre-des-Corps et à La Riche.
    </description>
    <instruction>Ne vous engagez pas sur les routes inondées. Éloignez-vous des berges et suivez les consignes des secours.</instruction>
    <web>https://www.indre-et-loire.gouv.fr/crue-loire</web>
    <contact>Préfecture d'Indre-et-Loire, 02 47 64 37 37</contact>
    <area>
      <areaDesc>Tours, Saint-Pierre-des-Corps, La Riche</areaDesc>
      <polygon>47.40,0.66 47.41,0.72 47.38,0.73 47.38,0.65 47.40,0.66</polygon>
      <geocode>
        <valueName>INSEE</valueName>
        <value>37261</value>
      </geocode>
    </area>
    <area>
      <areaDesc>Val de Loire en aval de Tours</areaDesc>
    </area>
  </info>
</alert>
`;

export const FLOOD_UPDATE = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>PREF37-2025-0143</identifier>
  <sender>${PREFECTURE}</sender>
  <sent>2025-01-20T14:05:00+01:00</sent>
  <status>Actual</status>
  <msgType>Update</msgType>
  <scope>Public</scope>
  <references>${PREFECTURE},PREF37-2025-0142,2025-01-20T08:30:00+01:00</references>
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>Crue de la Loire</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Vigilance rouge crues : la Loire à Tours</headline>
    <description>La cote de 5 m est dépassée au pont Wilson.</description>
    <area><areaDesc>Tours</areaDesc></area>
  </info>
</alert>
`;

export const FLOOD_CANCEL = `<?xml version="1.0" encoding="UTF-8"?>
<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <cap:identifier>PREF37-2025-0150</cap:identifier>
  <cap:sender>${PREFECTURE}</cap:sender>
  <cap:sent>2025-01-22T10:00:00+01:00</cap:sent>
  <cap:status>Actual</cap:status>
  <cap:msgType>Cancel</cap:msgType>
  <cap:scope>Public</cap:scope>
  <cap:references>${PREFECTURE},PREF37-2025-0142,2025-01-20T08:30:00+01:00 ${PREFECTURE},PREF37-2025-0143,2025-01-20T14:05:00+01:00</cap:references>
</cap:alert>
`;

export const BILINGUAL_ALERT = `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>PREF37-2025-0200</identifier>
  <sender>${PREFECTURE}</sender>
  <sent>2025-07-14T16:20:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>en-GB</language>
    <category>Fire</category>
    <event>Wildfire</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Wildfire near Chinon</headline>
    <area><areaDesc>Chinon forest</areaDesc></area>
  </info>
  <info>
    <language>fr</language>
    <category>Fire</category>
    <event>Feu de forêt</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <headline>Feu de forêt près de Chinon</headline>
    <instruction>Évitez la forêt de Chinon.</instruction>
    <area><areaDesc>Forêt de Chinon</areaDesc></area>
  </info>
</alert>
`;
