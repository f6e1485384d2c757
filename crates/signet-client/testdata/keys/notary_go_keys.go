// Writes private keys through Go notary's own library (tuf/utils), for key types the notary
// CLI cannot generate: Ed25519 (notary's OID and 96-byte form) and RSA (notary's PKCS#8
// without the NULL parameter). Run by make-vectors.sh; see README.md.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io/ioutil"
	"os"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

func write(name string, key data.PrivateKey, role data.RoleName, gun data.GUN, pass string) {
	pemBytes, err := utils.ConvertPrivateKeyToPKCS8(key, role, gun, pass)
	if err != nil {
		panic(err)
	}
	if err := ioutil.WriteFile(name, pemBytes, 0600); err != nil {
		panic(err)
	}
	fmt.Printf("%s %s %s\n", name, key.ID(), key.Algorithm())
}

func main() {
	pass := os.Args[1]
	ed, err := utils.GenerateED25519Key(rand.Reader)
	if err != nil {
		panic(err)
	}
	write("go-ed25519-encrypted.pem", ed, "targets/ed", "", pass)
	write("go-ed25519-plain.pem", ed, "targets/ed", "", "")
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	rk, err := utils.RSAToPrivateKey(r)
	if err != nil {
		panic(err)
	}
	write("go-rsa-encrypted.pem", rk, "targets", "example.com/rsa", pass)
	write("go-rsa-plain.pem", rk, "targets", "example.com/rsa", "")
}
