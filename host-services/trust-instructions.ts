// Per-runtime commands that make a client trust the guardian's CA. They are printed for the operator,
// never run: changing what a machine or a process trusts is the operator's decision.

const CONTAINER_PATH = '/etc/traffic-guardian/ca.crt';
const SYSTEM_NAME = 'nanoclaw-traffic-guardian.crt';

/** Quotes a value for a POSIX shell when it holds anything beyond plain path characters. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function trustInstructions(certPath: string, fingerprint: string): string {
  const p = shellQuote(certPath);
  const bundle = '"$HOME/.config/nanoclaw/traffic-guardian-bundle.pem"';
  return `How to trust the Traffic Guardian CA (printed only; nothing here has been run)

CA certificate:       ${certPath}
SHA-256 fingerprint:  ${fingerprint}
Compare before trusting it anywhere:
  openssl x509 -in ${p} -noout -fingerprint -sha256

Preferred: trust it per process or per container, only where HTTPS inspection is wanted.

  Node.js (adds to Node's built-in roots):
    NODE_EXTRA_CA_CERTS=${p} node app.js

  OpenSSL, curl and git, and Python (these REPLACE the default roots, so give them a bundle of
  the system roots plus this CA, or everything not inspected stops verifying):
    cat /etc/ssl/certs/ca-certificates.crt ${p} > ${bundle}    # macOS: /etc/ssl/cert.pem
    SSL_CERT_FILE=${bundle} openssl s_client -connect example.com:443
    CURL_CA_BUNDLE=${bundle} curl https://example.com/
    GIT_SSL_CAINFO=${bundle} git fetch
    REQUESTS_CA_BUNDLE=${bundle} SSL_CERT_FILE=${bundle} python3 app.py

  One container (mount the certificate read-only; the CA private key never enters the container):
    docker run \\
      -v ${p}:${CONTAINER_PATH}:ro \\
      -e NODE_EXTRA_CA_CERTS=${CONTAINER_PATH} \\
      IMAGE

System-wide trust. WARNING: this makes every program on the machine accept certificates the
guardian signs, so whoever can read the CA private key next to ${certPath} can intercept all of
its HTTPS traffic. That is the operator's decision; per-process environment variables are preferred.

  Debian / Ubuntu:
    sudo cp ${p} /usr/local/share/ca-certificates/${SYSTEM_NAME} && sudo update-ca-certificates
  undo:
    sudo rm /usr/local/share/ca-certificates/${SYSTEM_NAME} && sudo update-ca-certificates --fresh

  macOS:
    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${p}
  undo:
    sudo security remove-trusted-cert -d ${p}
`;
}
