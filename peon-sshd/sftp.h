/* Built-in SFTP v3 server (draft-ietf-secsh-filexfer-02 plus OpenSSH's
 * extensions), run by a process that already entered the job and dropped to
 * the job's credentials: no binary from the host runs inside the job. */
#ifndef PEON_SFTP_H
#define PEON_SFTP_H

#define SFTP_MAX_PACKET (256 * 1024 + 1024)
#define SFTP_MAX_READ (256 * 1024)
#define SFTP_MAX_HANDLES 512

/* Serve requests from in_fd, replies to out_fd, until EOF or a malformed
 * packet, starting in $HOME when it can be entered (else where we are).
 * Returns the process exit code. */
int sftp_serve(int in_fd, int out_fd);

#endif
