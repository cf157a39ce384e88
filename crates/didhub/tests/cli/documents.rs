//! `didhub documents`: upload, show and get back, with the store's checks.

use crate::common::each_backend;

#[test]
fn upload_show_and_get_back() {
    each_backend(|db| {
        let id = db.ok(&["partners", "create", "Acme Partner"]).stdout;
        let partner = id.split('\t').next().unwrap().trim().to_string();
        let pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n";
        let file = db.write("LOA signed.pdf", pdf);
        let f = file.to_str().unwrap();
        // By the partner's id, as JSON.
        let d = db
            .ok(&[
                "documents",
                "upload",
                "--kind",
                "loa",
                "--partner",
                &partner,
                f,
                "--json",
            ])
            .json();
        assert_eq!(d["kind"], "loa");
        assert_eq!(d["content_type"], "application/pdf");
        assert_eq!(d["file_name"], "LOA signed.pdf");
        assert_eq!(d["size"], pdf.len());
        assert_eq!(d["partner_id"], partner.as_str());
        let doc = d["id"].as_str().unwrap();
        // By the partner's name, as a line; the same content is kept once.
        let line = db
            .ok(&[
                "documents",
                "upload",
                "--kind",
                "invoice",
                "--partner",
                "Acme Partner",
                f,
            ])
            .stdout;
        let fields: Vec<&str> = line.trim_end().split('\t').collect();
        let size = pdf.len().to_string();
        let sha = d["sha256"].as_str().unwrap();
        assert_eq!(
            fields[1..],
            ["invoice", "LOA signed.pdf", "application/pdf", &size, sha]
        );
        let objects: Vec<_> = walk(&db.path("data").join("documents"));
        assert_eq!(objects.len(), 1, "{objects:?}");
        // Shown and written back as uploaded.
        let shown = db.ok(&["documents", "show", doc, "--json"]).json();
        assert_eq!(shown, d);
        let out = db.path("back.pdf");
        let r = db.ok(&["documents", "get", doc, "--out", out.to_str().unwrap()]);
        assert!(r.stdout.contains("LOA signed.pdf"), "{}", r.stdout);
        assert_eq!(std::fs::read(&out).unwrap(), pdf);
        let r = db.ok(&["documents", "get", doc, "--out", "-"]);
        assert_eq!(r.stdout.as_bytes(), pdf);
    });
}

fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn refusals_say_why_and_store_nothing() {
    each_backend(|db| {
        db.ok(&["partners", "create", "Acme Partner"]);
        let gif = db.write("photo.pdf", b"GIF89a\x01\x00\x01\x00");
        let pdf = db.write("big.pdf", b"%PDF-1.4\n0123456789\n");
        let upload = |extra: &[&str], file: &std::path::Path| {
            let mut args = vec!["documents", "upload", "--partner", "Acme Partner"];
            args.extend_from_slice(extra);
            args.push(file.to_str().unwrap());
            db.run(&args)
        };
        let r = upload(&["--kind", "loa"], &gif);
        assert_eq!(r.code, Some(1), "{}", r.all_output());
        assert!(
            r.stderr
                .contains("'photo.pdf' is not a PDF, PNG, JPEG or ZIP file"),
            "{}",
            r.stderr
        );
        let r = upload(&["--kind", "passport"], &pdf);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr.contains("--kind") && r.stderr.contains("passport"),
            "{}",
            r.stderr
        );
        // The configured limit, by flag and by environment.
        let r = db.run(&[
            "--max-document-bytes",
            "10",
            "documents",
            "upload",
            "--kind",
            "loa",
            "--partner",
            "Acme Partner",
            pdf.to_str().unwrap(),
        ]);
        assert_eq!(r.code, Some(1), "{}", r.all_output());
        assert!(
            r.stderr.contains("over the limit of 10 bytes"),
            "{}",
            r.stderr
        );
        let o = db
            .command()
            .env("DIDHUB_MAX_DOCUMENT_BYTES", "10")
            .args([
                "documents",
                "upload",
                "--kind",
                "loa",
                "--partner",
                "Acme Partner",
            ])
            .arg(&pdf)
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("over the limit of 10 bytes"));
        let r = db.run(&["--max-document-bytes", "0", "partners", "list"]);
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains("--max-document-bytes"), "{}", r.stderr);
        let f = pdf.to_str().unwrap();
        let r = db.run(&[
            "documents",
            "upload",
            "--kind",
            "loa",
            "--partner",
            "Nobody",
            f,
        ]);
        assert_eq!(r.code, Some(1));
        assert!(r.stderr.contains("--partner"), "{}", r.stderr);
        assert!(walk(&db.path("data").join("documents")).is_empty());
        // Exactly at the limit it goes in.
        let size = std::fs::metadata(&pdf).unwrap().len().to_string();
        let r = db.run(&[
            "--max-document-bytes",
            &size,
            "documents",
            "upload",
            "--kind",
            "loa",
            "--partner",
            "Acme Partner",
            pdf.to_str().unwrap(),
        ]);
        assert!(r.success(), "{}", r.all_output());
    });
}
