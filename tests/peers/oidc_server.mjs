// A real OAuth 2.0 / OpenID Connect authorisation server (panva's oidc-provider) for the OAuth tests.
// Usage: node oidc_server.mjs [port]   (or OIDC_PORT; 0 = pick a free port). Listens on 127.0.0.1 only and
// prints "READY <issuer>" once it accepts connections. Run with cwd = peers/ or NODE_PATH pointing at
// peers/node_modules so that "oidc-provider" resolves.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

// Resolve oidc-provider from peers/node_modules even though this script lives in tests/peers/.
const peersDir = process.env.CLIPLY_PEERS_DIR || path.resolve(import.meta.dirname, '../../peers');
const require = createRequire(path.join(peersDir, 'package.json'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const REDIRECT_URI = process.env.OIDC_REDIRECT_URI || 'http://127.0.0.1:9/callback';
const requested = Number(process.argv[2] ?? process.env.OIDC_PORT ?? 0);

// Bind first so that port 0 works and the issuer URL carries the real port (no free-port race).
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(requested, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const common = {
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};

const oidc = new Provider(issuer, {
  clients: [
    { ...common, client_id: 'cliply', client_secret: 'cliply-secret', token_endpoint_auth_method: 'client_secret_post' },
    { ...common, client_id: 'cliply-public', token_endpoint_auth_method: 'none' },
  ],
  pkce: { required: () => true },
  rotateRefreshToken: true,
  scopes: ['openid', 'offline_access', 'video.upload', 'video.publish'],
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // Any login is accepted by the dev login form; the account id is what the "browser" typed.
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
});

server.on('request', oidc.callback());

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(`READY ${issuer}`);
