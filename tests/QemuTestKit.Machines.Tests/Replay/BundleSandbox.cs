using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>
/// A private directory with the small synthetic files of a recorded run (replay log, state image, transcript, chunks,
/// stderr, kernel) and helpers to write them as a bundle and to damage bundles. No QEMU involved.
/// </summary>
internal sealed class BundleSandbox : IDisposable
{
    public const string QemuSha256 = "3f2a9c1b7e4d6a8f0c5b2e9d1a7f3c6b8e0d4a2f9c7b5e3d1a0f8c6b4e2d0a9f";

    public BundleSandbox()
    {
        Root = Directory.CreateTempSubdirectory("qtk-bundle-test-").FullName;
        Directory.CreateDirectory(SourceDir);
        Directory.CreateDirectory(OutputDir);
    }

    public string Root { get; }

    public string SourceDir => Path.Combine(Root, "run");

    public string OutputDir => Path.Combine(Root, "out");

    public string Source(string name) => Path.Combine(SourceDir, name);

    public string Output(string name) => Path.Combine(OutputDir, name);

    /// <summary>Bytes written per source, keyed by bundle path.</summary>
    public Dictionary<string, byte[]> Contents { get; } = new(StringComparer.Ordinal);

    public static readonly DateTimeOffset Started = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static BundleManifest Manifest() => new()
    {
        CreatedAt = Started.AddSeconds(10),
        Test = new BundleTest("Guest.Tests.LoginTests.Root_can_log_in", "failed", "expected 'root#'\nbut the console showed 'login:'"),
        Qemu = new QemuBuild("7.2.22", "Debian 1:7.2+dfsg-7+deb12u18", "/usr/bin/qemu-system-x86_64", QemuSha256),
        Spec = new MachineSpec
        {
            Name = "hello",
            MachineType = "q35",
            MemoryMiB = 256,
            Kernel = "/images/vmlinuz",
            Initrd = "/images/initramfs.cpio.gz",
            Append = "console=ttyS0 quiet panic=-1",
        },
        ReplayArguments =
        [
            "-icount", "shift=5,rr=replay,rrfile={bundle}/replay.bin",
            "-drive", "file={bundle}/state.qcow2,if=none,id=rr",
            "-kernel", "{bundle}/images/vmlinuz",
            "-qmp", "unix:{run}/qmp.sock,server=on,wait=off",
            "-loadvm", "ready",
        ],
        StartSnapshot = "ready",
        Checkpoints =
        [
            new Checkpoint("start", 0, 0, Started),
            new Checkpoint("after-login", 1_234_567, 12, Started.AddSeconds(2)),
        ],
        Transcript = new BundleTranscript("", 0, ""),
        Timings = new BundleTimings(3.5, Started, Started.AddSeconds(3.5)),
    };

    /// <summary>Writes the synthetic run files and returns them as bundle sources.</summary>
    public List<BundleSource> Sources(int kernelBytes = 4096, bool moveState = false)
    {
        return
        [
            Make("replay.bin", BundleRoles.ReplayLog, Random(20_000, 1)),
            Make("state.qcow2", BundleRoles.StateImage, Random(300_000, 2), moveState),
            Make("transcript.txt", BundleRoles.Transcript, Encoding.UTF8.GetBytes("login: root\r\n# echo 42\r\n42\r\n# ")),
            Make("transcript-chunks.json", BundleRoles.TranscriptChunks, Encoding.UTF8.GetBytes("[{\"offset\":0,\"icount\":0}]")),
            Make("stderr.log", BundleRoles.Stderr, []),
            Make("images/vmlinuz", BundleRoles.Kernel, Random(kernelBytes, 3)),
        ];
    }

    public BundleSource Make(string bundlePath, string role, byte[] content, bool move = false)
    {
        var path = Source(bundlePath.Replace('/', '-'));
        File.WriteAllBytes(path, content);
        Contents[bundlePath] = content;
        return new BundleSource(path, bundlePath, role, move);
    }

    public Task<string> WriteAsync(string name = "sample", BundleWriteOptions? options = null, List<BundleSource>? sources = null) =>
        ReplayBundleWriter.WriteAsync(Manifest(), sources ?? Sources(), Output(name), options, TestContext.Current.CancellationToken);

    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    /// <summary>Everything in the output directory, including hidden temporaries.</summary>
    public string[] OutputEntries() =>
        [.. Directory.EnumerateFileSystemEntries(OutputDir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    /// <summary>Edits bundle.json of a bundle directory as a JSON tree.</summary>
    public static void EditManifest(string bundle, Action<JsonObject> edit)
    {
        var path = Path.Combine(bundle, "bundle.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    /// <summary>Flips one byte of a file in place.</summary>
    public static void FlipByte(string path, long offset)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = offset;
        var b = stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte((byte)(b ^ 0x01));
    }

    public static async Task<ReplayBundleException> OpenFailsAsync(string path)
    {
        var open = () => ReplayBundle.OpenAsync(path, TestContext.Current.CancellationToken);
        var error = (await open.Should().ThrowAsync<ReplayBundleException>()).Which;
        error.Message.Should().NotContain("\n", "a bundle error is one line");
        return error;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
