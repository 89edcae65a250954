using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Introspection.Tests.Support;

/// <summary>Finds the real QEMU the tests run against, failing with the way to get it when it is missing.</summary>
internal static class TestQemu
{
    public const string X86 = "qemu-system-x86_64";

    public static string Binary => ExecutableSearch.Find(X86)
        ?? throw new InvalidOperationException($"{X86} is not installed: run ./build.sh setup (it installs Debian's qemu-system-x86 and qemu-utils)");

    /// <summary>The <c>qemu-system-TARGET</c> binary of another architecture (aarch64, riscv64), with the package that installs it.</summary>
    public static string For(string target)
    {
        var name = $"qemu-system-{target}";
        return ExecutableSearch.Find(name)
            ?? throw new InvalidOperationException($"{name} is not installed: run ./build.sh setup (it installs Debian's {QemuPackages.ForTarget(target)})");
    }

    public static string QemuImg => ExecutableSearch.Find("qemu-img")
        ?? throw new InvalidOperationException("qemu-img is not installed: run ./build.sh setup (it installs Debian's qemu-utils)");
}

/// <summary>A private temporary directory, removed on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("qtk-test-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
