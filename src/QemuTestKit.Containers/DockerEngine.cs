using System.Globalization;
using Docker.DotNet;

namespace QemuTestKit.Containers;

/// <summary>
/// The Docker engine a machine runs on: <see cref="ContainerImage.DockerEndpoint"/>, else <c>DOCKER_HOST</c>,
/// else the local socket. Checks it answers (one clear error when not) and adapts the API version Testcontainers asks
/// for to an older engine (Debian 12's docker.io speaks 1.41; Testcontainers 4.16 asks for 1.44 unless
/// <c>DOCKER_API_VERSION</c> says otherwise).
/// </summary>
internal static class DockerEngine
{
    public const string DefaultSocket = "unix:///var/run/docker.sock";
    private static readonly Version s_oldest = new(1, 41);
    private static readonly Version s_testcontainersDefault = new(1, 44);

    public static Uri Resolve(Uri? configured)
    {
        if (configured is not null)
        {
            return configured;
        }

        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        return new Uri(string.IsNullOrWhiteSpace(host) ? DefaultSocket : host);
    }

    /// <summary>
    /// Where published ports are reached: they are bound to 127.0.0.1 of the engine's host, which is this host for a
    /// Unix socket, and the endpoint's host for TCP (Testcontainers' own guess, the bridge gateway, is not bound).
    /// </summary>
    public static string PublishedHost(Uri endpoint) =>
        endpoint.Scheme is "tcp" or "http" or "https" ? endpoint.Host : "127.0.0.1";

    /// <summary>A client speaking the oldest API we support: every engine from Debian 12 on understands it.</summary>
    public static DockerClient CreateClient(Uri endpoint) =>
        new DockerClientBuilder().WithEndpoint(endpoint).WithApiVersion(s_oldest).Build();

    /// <summary>Fails with one clear line when no engine answers at <paramref name="endpoint"/>; returns its API version.</summary>
    public static async Task<Version> CheckAsync(Uri endpoint, CancellationToken cancellationToken)
    {
        using var client = CreateClient(endpoint);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        string apiVersion;
        try
        {
            apiVersion = (await client.System.GetVersionAsync(timeout.Token).ConfigureAwait(false)).APIVersion;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new QemuContainerException(
                $"no Docker engine answers at {endpoint} ({e.GetBaseException().Message}): start one (as root: ./build.sh setup, or dockerd &) or point DOCKER_HOST at one", e);
        }

        var version = Version.TryParse(apiVersion, out var parsed) ? parsed : s_oldest;
        AdaptApiVersion(version);
        return version;
    }

    /// <summary>Makes Testcontainers speak an older engine's API version unless the user chose one.</summary>
    private static void AdaptApiVersion(Version engine)
    {
        if (engine < s_testcontainersDefault && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_API_VERSION")))
        {
            Environment.SetEnvironmentVariable("DOCKER_API_VERSION", engine.ToString(2));
        }

        // Ryuk's image cannot be pulled without a registry; our labels and sweep do its work.
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED")))
        {
            Environment.SetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED", "true");
        }
    }

    /// <summary>The image's id and QEMU build labels; one clear line when it is missing.</summary>
    public static async Task<ImageFacts> InspectImageAsync(Uri endpoint, string image, CancellationToken cancellationToken)
    {
        using var client = CreateClient(endpoint);
        try
        {
            var inspect = await client.Images.InspectImageAsync(image, cancellationToken).ConfigureAwait(false);
            var labels = inspect.Config?.Labels ?? new Dictionary<string, string>();
            return new ImageFacts(image, inspect.ID,
                labels.TryGetValue("org.qemutestkit.qemu.sha256", out var sha) ? sha : null,
                labels.TryGetValue("org.qemutestkit.qemu.package", out var package) ? package : null);
        }
        catch (DockerImageNotFoundException e)
        {
            throw new QemuContainerException(
                $"the image {image} is not on the Docker engine at {endpoint}: build it with eng/docker/build-image.sh (as root; ./build.sh setup does) or docker build -t {image} eng/docker", e);
        }
        catch (DockerApiException e)
        {
            throw new QemuContainerException($"the Docker engine at {endpoint} cannot inspect the image {image}: {e.ResponseBody?.Trim()}", e);
        }
    }

    public static string Short(string id) => (id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..] : id)[..12].ToString(CultureInfo.InvariantCulture);
}

/// <param name="Name">The image as named by the user.</param>
/// <param name="Id">Its content id (sha256:...): the exact image a bundle names.</param>
/// <param name="QemuSha256">sha256 of its qemu-system-x86_64 (label written when it was built), when known.</param>
/// <param name="QemuPackage">Debian's package version of its QEMU, when known.</param>
public sealed record ImageFacts(string Name, string Id, string? QemuSha256, string? QemuPackage);
