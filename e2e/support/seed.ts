// The seeded demo data the journeys start from (hasura/seeds/default; ids in docs/data-model.md).
export const acme = {
  id: '0a000000-0000-4000-8000-000000000001',
  name: 'Acme Labs',
  owner: 'owner@acme.test',
  member: 'member@acme.test',
};
export const globex = {
  id: '0a000000-0000-4000-8000-000000000002',
  name: 'Globex',
  owner: 'owner@globex.test',
  member: 'member@globex.test',
};
