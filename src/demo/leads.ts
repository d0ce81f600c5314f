import { ConfigError } from '../core/errors.js';

// The demo's synthetic leads (demo/leads.csv) and the records the mock LinkedIn and Clearbit
// answer for them. The agent puts those answers verbatim into its prompts, so the spend
// prediction builds the very same strings here.

export interface Lead {
  id: string;
  company: string;
  domain: string;
  industry: string;
  employees: number;
  city: string;
  contact: string;
  title: string;
}

const COLUMNS = ['id', 'company', 'domain', 'industry', 'employees', 'city', 'contact', 'title'] as const;

/**
 * Plain comma-separated rows with the header above: the demo's file has no quoting, and one
 * that needs it is refused rather than half-parsed.
 *
 * @example
 * parseLeads('id,company,domain,industry,employees,city,contact,title\nL001,Acme,acme.example,x,10,Y,Ann Lee,CEO\n')[0].domain // 'acme.example'
 */
export function parseLeads(text: string, where = 'leads'): Lead[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines[0] !== COLUMNS.join(',')) throw new ConfigError(`${where}: the header must be "${COLUMNS.join(',')}"`);
  const domains = new Set<string>();
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== COLUMNS.length || line.includes('"')) {
      throw new ConfigError(`${where}: line ${i + 2}: expected ${COLUMNS.length} plain fields, got ${cells.length}`);
    }
    const [id, company, domain, industry, employees, city, contact, title] = cells as [string, string, string, string, string, string, string, string];
    if (!/^\d+$/.test(employees)) throw new ConfigError(`${where}: line ${i + 2}: employees must be a whole number (got "${employees}")`);
    if (!/\.example(\.(com|org|net))?$/.test(domain)) throw new ConfigError(`${where}: line ${i + 2}: domain "${domain}" must be under an example TLD`);
    if (domains.has(domain)) throw new ConfigError(`${where}: line ${i + 2}: domain "${domain}" appears twice`);
    domains.add(domain);
    return { id, company, domain, industry, employees: Number(employees), city, contact, title };
  });
}

/**
 * The profile mock LinkedIn answers for a lead (`GET /people/search?domain=`), as sent on the wire.
 *
 * @example
 * JSON.parse(linkedinProfileBody(lead)).headline // 'CEO at Acme'
 */
export function linkedinProfileBody(lead: Lead): string {
  const handle = lead.contact.toLowerCase().replace(/[^a-z]+/g, '-');
  return JSON.stringify({
    name: lead.contact,
    headline: `${lead.title} at ${lead.company}`,
    location: lead.city,
    profile: `https://linkedin.example/in/${handle}`,
    company: { name: lead.company, industry: lead.industry, size: `${lead.employees} employees` },
    recent_activity: [`Shared a post about ${lead.industry} trends`, `Commented on a ${lead.company} hiring update`],
  });
}

/**
 * The company record mock Clearbit answers for a lead (`GET /companies/find?domain=`), as sent on
 * the wire. `injected`: text someone planted in the company's description (the scenario's prompt
 * injection), after the description proper, as a scraped web page would carry it.
 *
 * @example
 * JSON.parse(clearbitCompanyBody(lead)).domain // 'acme.example'
 */
export function clearbitCompanyBody(lead: Lead, injected?: string): string {
  const description = `${lead.company} is a ${lead.industry} company based in ${lead.city} with about ${lead.employees} employees.`;
  return JSON.stringify({
    name: lead.company,
    domain: lead.domain,
    category: { industry: lead.industry },
    metrics: { employees: lead.employees },
    geo: { city: lead.city },
    description: injected ? `${description} ${injected}` : description,
    people: [{ name: lead.contact, role: lead.title }],
  });
}
