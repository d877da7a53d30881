// Root hosts: NanoClaw's containers run as uid 1000 even when NanoClaw (and so the guardian) runs as root,
// and a root-owned 0700 socket directory would refuse them (EACCES). So the group's socket directory is
// given to the container's uid; it stays 0700, and each container mounts only its own group's directory.
// The guardian gives the socket it creates there to the directory's owner (ipc-server.ts).
import { chownSync } from 'node:fs';

export function chownForContainer(dir: string, hostUid: number, containerUid: number): void {
  if (hostUid === 0 && containerUid !== 0) chownSync(dir, containerUid, containerUid);
}
